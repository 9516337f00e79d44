"""The Stripe fake answers as Stripe does: the real `stripe` client reads its objects and maps
its errors to the same exception classes, and the wire shapes (error JSON, lists, bracket
notation, masked keys) are Stripe's."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import stripe

from tests.support.stripe_fake import ACCOUNT_ID, StripeFake, parse_brackets

KEY = "sk_" + "test_FAKEfidelity51Hx9q2Lm8Zr4Tw"
LIVE = "sk_" + "live_FAKEfidelity51Hx9q2Lm8Zr4Tw"
RESTRICTED = "rk_" + "test_FAKEfidelity51Hx9q2Lm8Zr4Tw"
PUBLISHABLE = "pk_test_FAKEfidelity51Hx9q2Lm8Zr4Tw"
# stripe-python hands httpx its form body as a str; httpx would rather have `content=`.
STRIPES_OWN_WARNING = pytest.mark.filterwarnings("ignore:Use 'content=:DeprecationWarning")


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[StripeFake, str]]:
    fake = StripeFake()
    with fake.serve() as url:
        yield fake, url


@pytest.fixture
def fake(served: tuple[StripeFake, str]) -> StripeFake:
    fake = served[0]
    fake.reset()
    for key in (KEY, LIVE, PUBLISHABLE):
        fake.add_key(key)
    fake.add_key(RESTRICTED, permissions={"rak_webhook_write"})
    fake.add_product("prod_pro", name="Pro")
    fake.add_price("price_1Pro", product="prod_pro", unit_amount=2900, lookup_key="pro_monthly",
                   metadata={"credits": "60"})
    fake.add_price("price_1Credits", product="prod_pro", unit_amount=500, interval=None,
                   lookup_key="credits_pack")
    fake.add_price("price_1Live", product="prod_pro", unit_amount=2900, livemode=True)
    return fake


@pytest.fixture
def api_base(served: tuple[StripeFake, str], fake: StripeFake) -> str:
    return served[1]


@pytest.fixture
async def client(api_base: str) -> AsyncIterator[stripe.StripeClient]:
    http = stripe.HTTPXClient(timeout=5)
    yield stripe.StripeClient(KEY, base_addresses={"api": api_base}, http_client=http)
    await http.close_async()


def client_for(key: str, api_base: str) -> stripe.StripeClient:
    return stripe.StripeClient(key, base_addresses={"api": api_base},
                               http_client=stripe.HTTPXClient(timeout=5))


def test_bracket_notation_is_read_as_stripe_writes_it() -> None:
    assert parse_brackets([("lookup_keys[]", "a"), ("lookup_keys[]", "b"),
                           ("expand[0]", "data.product"), ("metadata[credits]", "60"),
                           ("items[0][price]", "price_1"), ("limit", "3")]) == {
        "lookup_keys": ["a", "b"], "expand": ["data.product"], "metadata": {"credits": "60"},
        "items": [{"price": "price_1"}], "limit": "3"}


async def test_the_client_reads_balance_livemode_by_the_keys_mode(
        client: stripe.StripeClient, api_base: str) -> None:
    balance = await client.v1.balance.retrieve_async()
    live = await client_for(LIVE, api_base).v1.balance.retrieve_async()

    assert (balance.object, balance.livemode, balance.available[0].currency) == (
        "balance", False, "usd")
    assert live.livemode is True


async def test_the_account_is_read(client: stripe.StripeClient) -> None:
    account = await client.v1.accounts.retrieve_current_async()

    assert (account.id, account.object, account.settings.dashboard.display_name) == (
        ACCOUNT_ID, "account", "Rsolv")


async def test_prices_by_lookup_key_with_the_product_expanded(
        client: stripe.StripeClient) -> None:
    page = await client.v1.prices.list_async({"lookup_keys": ["pro_monthly", "credits_pack"],
                                              "expand": ["data.product"]})

    assert sorted(p.id for p in page.data) == ["price_1Credits", "price_1Pro"]
    pro = next(p for p in page.data if p.id == "price_1Pro")
    assert (pro.product.name, pro.recurring.interval, pro.metadata["credits"]) == (
        "Pro", "month", "60")
    assert isinstance(pro.product, stripe.Product)


async def test_a_recurring_price_is_a_legacy_plan_and_a_one_time_one_is_not(
        client: stripe.StripeClient) -> None:
    plan = await client.v1.plans.retrieve_async("price_1Pro")
    assert (plan.object, plan.amount, plan.interval) == ("plan", 2900, "month")

    with pytest.raises(stripe.InvalidRequestError) as raised:
        await client.v1.plans.retrieve_async("price_1Credits")
    assert (raised.value.http_status, raised.value.code) == (404, "resource_missing")


async def test_objects_of_the_other_mode_do_not_exist_for_a_key(
        client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        await client.v1.prices.retrieve_async("price_1Live")

    assert raised.value.user_message == "No such price: 'price_1Live'"
    assert raised.value.param == "price"


async def test_a_missing_object_answers_stripes_error_shape(api_base: str,
                                                            fake: StripeFake) -> None:
    async with httpx.AsyncClient(base_url=api_base) as http:
        response = await http.get("/v1/products/prod_nope",
                                  headers={"Authorization": f"Bearer {KEY}"})

    assert response.status_code == 404
    assert response.headers["request-id"].startswith("req_")
    error = response.json()["error"]
    assert {k: error[k] for k in ("message", "type", "code", "param", "doc_url")} == {
        "message": "No such product: 'prod_nope'", "type": "invalid_request_error",
        "code": "resource_missing", "param": "product",
        "doc_url": "https://stripe.com/docs/error-codes/resource-missing"}


async def test_an_unknown_key_is_a_401_quoting_it_masked(api_base: str) -> None:
    wrong = "sk_" + "test_FAKEwrong51Hx9q2Lm8Zr4TwQ"
    with pytest.raises(stripe.AuthenticationError) as raised:
        await client_for(wrong, api_base).v1.balance.retrieve_async()

    masked = "sk_test_" + "*" * (len(wrong) - 12) + wrong[-4:]
    assert raised.value.user_message == f"Invalid API Key provided: {masked}"


async def test_no_key_and_a_publishable_key_are_401s(api_base: str) -> None:
    async with httpx.AsyncClient(base_url=api_base) as http:
        bare = await http.get("/v1/balance")
        publishable = await http.get("/v1/balance", auth=(PUBLISHABLE, ""))  # basic auth

    assert bare.status_code == 401
    assert bare.json()["error"]["message"].startswith("You did not provide an API key.")
    assert publishable.status_code == 401
    assert publishable.json()["error"]["message"].startswith(
        "This API call cannot be made with a publishable API key.")


async def test_a_restricted_key_outside_its_permissions_gets_stripes_403(
        api_base: str) -> None:
    restricted = client_for(RESTRICTED, api_base)

    with pytest.raises(stripe.PermissionError) as raised:
        await restricted.v1.balance.retrieve_async()

    assert raised.value.http_status == 403
    assert raised.value.user_message == (
        f"The provided key 'rk_test_{'*' * (len(RESTRICTED) - 14)}{RESTRICTED[-6:]}' does not "
        f"have the required permissions for this endpoint on account '{ACCOUNT_ID}'. Having "
        "the 'rak_balance_read' permission would allow this request to continue.")
    # rak_webhook_write implies reading them.
    assert (await restricted.v1.webhook_endpoints.list_async()).data == []


@STRIPES_OWN_WARNING
async def test_webhook_endpoints_created_updated_listed_with_the_secret_only_on_create(
        client: stripe.StripeClient) -> None:
    created = await client.v1.webhook_endpoints.create_async({
        "url": "https://staging.rsolv.dev/webhooks/stripe",
        "enabled_events": ["invoice.paid", "customer.subscription.deleted"],
        "api_version": "2024-06-20"})
    assert created.secret.startswith("whsec_")
    assert (created.status, created.livemode, created.api_version) == (
        "enabled", False, "2024-06-20")

    await client.v1.webhook_endpoints.update_async(created.id, {"disabled": True})
    listed = await client.v1.webhook_endpoints.list_async()

    [endpoint] = listed.data
    assert (endpoint.id, endpoint.status, endpoint.enabled_events) == (
        created.id, "disabled", ["invoice.paid", "customer.subscription.deleted"])
    assert "secret" not in endpoint


@STRIPES_OWN_WARNING
async def test_creating_without_a_required_param_is_stripes_400(
        client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        await client.v1.webhook_endpoints.create_async({"enabled_events": ["*"]})

    assert (raised.value.http_status, raised.value.code, raised.value.param) == (
        400, "parameter_missing", "url")
    assert raised.value.user_message == "Missing required param: url."


async def test_lists_page_with_limit_and_starting_after(client: stripe.StripeClient,
                                                        fake: StripeFake) -> None:
    for number in range(5):
        fake.add_webhook_endpoint(f"https://e{number}.example/hooks", enabled_events=["*"])

    first = await client.v1.webhook_endpoints.list_async({"limit": 2})
    every = [e.url async for e in first.auto_paging_iter()]

    assert first.has_more is True and len(first.data) == 2
    assert every == [f"https://e{n}.example/hooks" for n in range(4, -1, -1)]  # newest first
    assert [c.params.get("starting_after") is not None
            for c in fake.calls("/v1/webhook_endpoints")] == [False, True, True]


async def test_an_unknown_url_is_stripes_404(api_base: str) -> None:
    async with httpx.AsyncClient(base_url=api_base) as http:
        response = await http.get("/v1/nothing", headers={"Authorization": f"Bearer {KEY}"})

    assert response.status_code == 404
    assert response.json()["error"]["message"].startswith(
        "Unrecognized request URL (GET: /v1/nothing).")


async def test_faults_answer_the_next_requests_then_stop(api_base: str,
                                                         fake: StripeFake) -> None:
    fake.fail_next(1, status=500)
    fake.fail_next(1, status=503, html=True)
    async with httpx.AsyncClient(base_url=api_base,
                                 headers={"Authorization": f"Bearer {KEY}"}) as http:
        answers = [await http.get("/v1/balance") for _ in range(3)]

    assert [a.status_code for a in answers] == [500, 503, 200]
    assert answers[0].json() == {"error": {"message": "An unknown error occurred",
                                           "type": "api_error"}}
    assert answers[1].headers["content-type"].startswith("text/html")


async def test_the_requests_are_recorded_without_the_key(client: stripe.StripeClient,
                                                         fake: StripeFake) -> None:
    await client.v1.balance.retrieve_async()

    [call] = fake.calls()
    assert (call.method, call.path, call.status) == ("GET", "/v1/balance", 200)
    assert KEY not in repr(fake.requests)
