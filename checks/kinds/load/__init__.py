"""The `load` kind: an open-model load probe in the spirit of k6's constant-arrival-rate
executor, with smoke-test safety rails.

    - id: api-under-load
      type: load
      url: ${base_url}/api/health
      rps: 100
      duration: 30s
      warmup: 5s
      concurrency: 50                 # in flight at most; a request due beyond it is dropped
      thresholds: [p95 < 300ms, p99 < 800ms, error_rate < 1%, achieved_rps >= 95%]
      warn: [p95 < 200ms]             # a `slow` warning, not a failure
      assert: [status == healthy]     # judged on every 10th answer (assert_every)

Requests start on schedule whatever the answers; the figures (requests sent and answered,
achieved rps, p50/p90/p95/p99/max, error rate, status histogram, transport error classes)
go into the result's measurements, a table of them into its details, the first failures into
its evidence. `checks.traffic` decides whether it may run at all (production, hard caps, the
environment's limits, the run's request budget, one probe per environment at a time), and
every request carries the synthetic-traffic headers. See docs/load.md.

    _params      LoadParams, AbortRule, Schedule
    _thresholds  `p95 < 300ms` and friends, parsed and judged
    _client      aiohttp session; aiohttp errors -> TransportFailure (the I/O edge)
    _generator   the open-model scheduler
    _judge       one answer's status and sampled assertions
    _stats       Tally while running, LoadFigures at the end, percentiles
    _report      figures -> summary, details table, evidence
    _check       LoadCheck: policy, gate, budget, generator, outcome
"""

from checks.kinds.load._check import LoadCheck
from checks.kinds.load._params import AbortRule, LoadParams, Schedule
from checks.kinds.load._stats import LoadFigures, percentile
from checks.kinds.load._thresholds import Threshold, ThresholdResult, parse_threshold

__all__ = ["AbortRule", "LoadCheck", "LoadFigures", "LoadParams", "Schedule", "Threshold",
           "ThresholdResult", "parse_threshold", "percentile"]
