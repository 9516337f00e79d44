"""The one place where an error becomes what the user reads. Every `smokebot` command runs
inside `BridgedGroup.invoke`; no command catches an error to print it.

    SmokebotError, or an            `error: <render()>` on stderr, one line per error; exit with
    ExceptionGroup of them          the (first) error's exit_code; never a traceback
    KeyboardInterrupt               `cancelled`, exit 130: what `smokebot run` exits with when
                                    Ctrl-C cancels it
    click's own exceptions          left to click: a usage error exits 2, --help and --version 0
    any other Exception             `error: unexpected <Type>: <message>` and a hint, exit 1;
                                    the traceback only with --debug or SMOKEBOT_DEBUG=1

The group's `--debug` option (or SMOKEBOT_DEBUG=1) belongs to the bridge too. Whatever the
bridge prints passes through the command's `output_redactor()`, so an error cannot carry a
secret the command held out of the process.
"""

from __future__ import annotations

import traceback
from collections.abc import Sequence
from typing import Any, NoReturn

import click

from bot.settings import debug_from_env
from checks.errors import SmokebotError
from checks.redact import Redactor

__all__ = ["BridgedGroup", "output_redactor"]

_REDACTOR = "smokebot.output_redactor"
_DEBUG = "smokebot.debug"
_CANCELLED_EXIT_CODE = 130


def output_redactor() -> Redactor:
    """The redactor of everything the running command prints, error messages included; the
    command registers each secret it learns with it."""
    meta = click.get_current_context().meta
    redactor: Redactor = meta.setdefault(_REDACTOR, Redactor())
    return redactor


def _remember_debug(ctx: click.Context, _: click.Parameter, value: bool) -> None:
    ctx.meta[_DEBUG] = value


class BridgedGroup(click.Group):
    """A click group whose commands' errors become a message on stderr and an exit code."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.params.append(click.Option(
            ["--debug"], is_flag=True, expose_value=False, callback=_remember_debug,
            help="Show the traceback of an unexpected error (or set SMOKEBOT_DEBUG=1)."))

    def invoke(self, ctx: click.Context) -> Any:
        try:
            # Read here, not while parsing: a malformed SMOKEBOT_DEBUG is then a clean error.
            ctx.meta[_DEBUG] = ctx.meta.get(_DEBUG) or debug_from_env()
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except SmokebotError as error:
            _fail(ctx, [error])
        except ExceptionGroup as group:
            leaves = _leaves(group)
            errors = [each for each in leaves if isinstance(each, SmokebotError)]
            if len(errors) < len(leaves):
                _crash(ctx, group)
            _fail(ctx, errors)
        except KeyboardInterrupt:
            click.echo("\ncancelled", err=True)
            raise SystemExit(_CANCELLED_EXIT_CODE) from None
        except Exception as exc:  # noqa: BLE001 - the last resort: a short message, exit 1
            _crash(ctx, exc)


def _fail(ctx: click.Context, errors: Sequence[SmokebotError]) -> NoReturn:
    # One line per error, never wrapped: `file:line:column: message` stays greppable in CI logs.
    for error in errors:
        _print_error(ctx, error.render())
    raise SystemExit(errors[0].exit_code)


def _crash(ctx: click.Context, exc: Exception) -> NoReturn:
    what = f"unexpected {type(exc).__name__}" + (f": {exc}" if str(exc) else "")
    if ctx.meta.get(_DEBUG):
        click.echo(_redact(ctx, "".join(traceback.format_exception(exc))), err=True, nl=False)
        _print_error(ctx, what)
    else:
        _print_error(ctx, f"{what} (a bug in smokebot; run again with --debug, or "
                          f"SMOKEBOT_DEBUG=1, to see its traceback)")
    raise SystemExit(1)


def _print_error(ctx: click.Context, message: str) -> None:
    label = click.style("error:", fg="red", bold=True)  # plain text unless stderr is a terminal
    click.echo(f"{label} {_redact(ctx, message)}", err=True)


def _redact(ctx: click.Context, text: str) -> str:
    redactor: Redactor | None = ctx.meta.get(_REDACTOR)
    return redactor.redact(text) if redactor is not None else text


def _leaves(group: BaseExceptionGroup[Any]) -> list[BaseException]:
    found: list[BaseException] = []
    for each in group.exceptions:
        found.extend(_leaves(each) if isinstance(each, BaseExceptionGroup) else [each])
    return found
