"""Stripe check kinds: what a deployed environment's Stripe account must look like.

    stripe.account            the key works, and it and the account are in the expected mode
    stripe.webhook_endpoint   an endpoint for our URL is registered, enabled, and subscribed
    stripe.price              a price (by id, lookup_key or legacy plan id) is active and right
    stripe.webhook_delivery   a signed event reaches our endpoint and is acknowledged
    stripe.subscription_flow  a test customer subscribes, and the app sees it

Every kind reads the key from a suite secret and talks to Stripe (or an emulator at
`api_base`) through `_client`, which also turns every stripe exception into a CheckError
that names what was asked and never carries the key.
"""
