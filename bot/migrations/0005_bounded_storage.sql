-- Bounded storage: rejected webhook deliveries fill a fixed number of slots, and old rows can
-- be pruned in small batches (bot/store/retention.py) without a scan per deleted run.
--
-- A rejected (unauthenticated, malformed) delivery is written to one of N slots per deploy
-- source, N being SMOKEBOT_MAX_REJECTED_DELIVERIES: the slot is a hash of the delivery's
-- reason, remote address and hour, so a repeat of a rejection lands on the row already there
-- and is counted in it (`redeliveries`, `last_received_at`), and a different rejection that
-- meets a taken slot replaces it. A flood, however varied, leaves at most N rows per source.
-- Rows rejected before this migration have no slot: only their age removes them.

ALTER TABLE webhook_deliveries ADD COLUMN slot integer;

ALTER TABLE webhook_deliveries ADD CONSTRAINT webhook_deliveries_slot_only_if_rejected
    CHECK (slot IS NULL OR (outcome = 'rejected' AND slot >= 0));

-- Slot first: the pruner finds the slots left over when the bound was lowered (slot >= N).
CREATE UNIQUE INDEX webhook_deliveries_rejected_slot_idx ON webhook_deliveries (slot, source)
    WHERE outcome = 'rejected';

-- Deleting a run sets these references to NULL: without an index, each deleted run would scan
-- the whole table.
CREATE INDEX webhook_deliveries_run_idx ON webhook_deliveries (run_id) WHERE run_id IS NOT NULL;
CREATE INDEX acknowledgements_run_idx ON acknowledgements (run_id) WHERE run_id IS NOT NULL;
