"""The Slack side of smokebot: the Bolt app, its listeners, Block Kit rendering, delivery."""
