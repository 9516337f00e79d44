"""No secret value leaves the process: the Redactor, its logging filter, and the Secret type."""

from __future__ import annotations

import copy
import io
import logging
import pickle
from collections.abc import Iterator
from urllib.parse import quote, quote_plus

import pytest

from checks.redact import RedactingFilter, Redactor
from checks.secrets import Secret, describe_secret

CANARY = "sk_test_0123456789abcdefghijklmnopqrstuv"  # 40 characters
SHOWN = "[redacted sk_test_…(40 chars)]"


def test_registered_value_is_replaced_by_its_description() -> None:
    redactor = Redactor([CANARY])
    assert redactor.redact(f"Authorization: Bearer {CANARY}; again {CANARY}") == (
        f"Authorization: Bearer {SHOWN}; again {SHOWN}")


def test_text_without_secrets_is_left_alone() -> None:
    assert Redactor([CANARY]).redact("nothing to see") == "nothing to see"
    assert Redactor().redact(f"no secret registered: {CANARY}").endswith(CANARY)
    assert Redactor().empty and not Redactor([CANARY]).empty


def test_url_encoded_forms_are_redacted_too() -> None:
    password = "p@ss w/rd+1"
    redactor = Redactor([Secret(password)])
    forms = {quote(password, safe=""), quote_plus(password), quote(password)}
    assert len(forms) == 3  # the three spellings differ for this value
    for form in forms:
        redacted = redactor.redact(f"postgresql://app:{form}@db/app")
        assert password not in redacted and form not in redacted, form
        assert redacted.startswith("postgresql://app:[redacted (")


def test_longest_value_wins_where_two_secrets_overlap() -> None:
    redactor = Redactor(["abcd", "abcd1234"])
    assert redactor.redact("x abcd1234 y abcd z") == (
        "x [redacted (8 chars)] y [redacted (4 chars)] z")


def test_value_too_short_to_redact_safely_is_not_registered() -> None:
    redactor = Redactor(["abc"])
    assert redactor.empty
    assert redactor.redact("abc and abcdef") == "abc and abcdef"


def test_nested_objects_are_redacted_keys_and_all() -> None:
    redactor = Redactor([CANARY])
    data = {"headers": [("Authorization", f"Bearer {CANARY}")], CANARY: 1,
            "rows": [{"token": CANARY, "count": 3, "ok": True, "none": None}],
            "wrapped": Secret("another-secret-value")}
    assert redactor.redact_obj(data) == {
        "headers": [("Authorization", f"Bearer {SHOWN}")], SHOWN: 1,
        "rows": [{"token": SHOWN, "count": 3, "ok": True, "none": None}],
        "wrapped": "(20 chars)"}
    assert isinstance(redactor.redact_obj(data)["headers"][0], tuple)


# ------------------------------------------------------------------ logging

@pytest.fixture
def logged() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    handler.addFilter(RedactingFilter(Redactor([CANARY])))
    logger = logging.getLogger("tests.redact")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)


def test_log_message_arguments_are_redacted(logged: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = logged
    logger.info("calling %s with %r", "https://api.example.com", {"key": CANARY})
    assert stream.getvalue() == (
        f"INFO calling https://api.example.com with {{'key': '{SHOWN}'}}\n")


def test_exception_text_in_a_log_record_is_redacted(
        logged: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = logged
    try:
        raise ValueError(f"rejected key {CANARY}")
    except ValueError:
        logger.exception("request failed")
    output = stream.getvalue()
    assert CANARY not in output
    assert output.startswith("ERROR request failed\nTraceback")
    assert output.endswith(f"ValueError: rejected key {SHOWN}\n")


def test_exception_already_formatted_by_another_handler_is_redacted(
        logged: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = logged
    unfiltered = io.StringIO()  # a handler without the filter, attached first
    first = logging.StreamHandler(unfiltered)
    logger.handlers.insert(0, first)
    try:
        try:
            raise ValueError(CANARY)
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(first)
    assert CANARY in unfiltered.getvalue()  # the point: it had set exc_text already
    assert CANARY not in stream.getvalue()


def test_stack_info_is_redacted(logged: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = logged
    record = logger.makeRecord(logger.name, logging.WARNING, __file__, 1, "here", None, None,
                               sinfo=f"Stack (most recent call last):\n  token={CANARY}")
    logger.handle(record)
    assert stream.getvalue() == (
        f"WARNING here\nStack (most recent call last):\n  token={SHOWN}\n")


def test_record_whose_arguments_do_not_fit_is_still_redacted_not_raised(
        logged: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = logged
    logger.info("one %s and %s", CANARY)  # a bug in the caller's format string
    assert stream.getvalue() == f"INFO one %s and %s ('{SHOWN}',)\n"


# ------------------------------------------------------------------ Secret

def test_secret_never_shows_its_value() -> None:
    secret = Secret(CANARY)
    shown = [str(secret), repr(secret), f"{secret}", f"{secret:>60}", f"{secret!r}",
             "%s %r" % (secret, secret), repr([secret]), repr({"k": secret}),
             "{}".format(secret)]
    assert all(CANARY not in text for text in shown)
    assert str(secret) == "sk_test_…(40 chars)"
    assert secret.reveal() == CANARY


def test_secret_cannot_be_pickled() -> None:
    with pytest.raises(TypeError, match="a Secret cannot be pickled"):
        pickle.dumps(Secret(CANARY))
    with pytest.raises(TypeError):
        pickle.dumps({"nested": [Secret(CANARY)]})


def test_secret_copies_are_itself() -> None:
    secret = Secret(CANARY)
    assert copy.copy(secret) is secret
    assert copy.deepcopy({"s": secret})["s"] is secret


def test_secrets_compare_by_value() -> None:
    assert Secret(CANARY) == Secret(CANARY) and Secret(CANARY) != Secret(CANARY + "x")
    assert Secret(CANARY) != CANARY  # never equal to the bare text
    assert len({Secret(CANARY), Secret(CANARY)}) == 1


@pytest.mark.parametrize(("value", "described"), [
    ("sk_test_" + "x" * 24, "sk_test_…(32 chars)"),
    ("sk_live_" + "x" * 24, "sk_live_…(32 chars)"),
    ("whsec_abcdefgh", "whsec_…(14 chars)"),
    ("xoxb-123-456-abc", "xoxb-…(16 chars)"),
    ("hunter2hunter2", "(14 chars)"),
    ("sk_unknown_prefix", "(17 chars)"),  # only known, non-secret prefixes are shown
    ("", "empty"),
    (None, "absent"),
])
def test_describe_secret_shows_only_a_known_prefix_and_the_length(value: str | None,
                                                                  described: str) -> None:
    assert describe_secret(value) == described
