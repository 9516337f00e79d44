-- Deploy sources are open-ended: the bot's registry (bot/webhooks/sources.py) says which exist,
-- so adding one (GitLab, say) needs no migration. The list 0001 spelled out is dropped; what
-- stays checked is the form of every source name: a URL path segment (/webhooks/<name>).

ALTER TABLE webhook_deliveries DROP CONSTRAINT webhook_deliveries_source_check;

ALTER TABLE webhook_deliveries ADD CONSTRAINT webhook_deliveries_source_format
    CHECK (source ~ '^[a-z0-9][a-z0-9_-]*$');
