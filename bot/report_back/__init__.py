"""Reporting a deploy's verdict back to where the deploy came from.

A run that a deploy webhook started owes its verdict to the deploy's source: GitHub gets a
deployment status on the deployment that was deployed (`github.py`), the generic webhook's
caller a signed POST to the `callback_url` it gave (`callback.py`). Which sources can be told,
and how, is one registry (`reporters.py`); the deliverer (`deliverer.py`) sends them.

Never lost: the report is a row (`report_backs`, bot/store/report_backs.py) written in the
transaction that records the deploy's run, and due once the run has ended, whichever way it
ended: the commit that ends the run is the one that makes its report due. A worker sends it
right after the run, and every worker's outbox loop sends what is left (a retry, a run whose
worker died).

Never twice: one deliverer at a time holds a report's lease; before each attempt the report is
marked in doubt, and the mark is cleared only when an answer proved nothing was taken (a 4xx, a
rate limit, a connection never made). A report still in doubt (after a 5xx, a timeout, or a
deliverer that died mid-call) is first looked for at the source: GitHub's list of the
deployment's statuses, where each of ours names its run. A callback cannot be asked, so it is
sent again with the same `X-Smokebot-Delivery` for the receiver to drop the second.

Bounded: a failure that can pass (5xx, 429, a secondary rate limit, a timeout) is tried again
after a backoff, or the source's own Retry-After, up to `ReportPolicy.max_attempts`; one that
cannot (401, 403 without a rate limit, 404, 422) is given up at once. Either way the run is not
touched: a report is a fact about the run, shown by `smokebot deliveries`, never its verdict.

Nothing is imported here: the webhook parsers read `names.py`, and they are imported by the
settings, which the deliverer imports.
"""
