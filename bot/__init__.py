"""smokebot's adapters to the world: Slack, webhooks, queue, store and the CLI."""
