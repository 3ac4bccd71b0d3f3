"""Helpers shared by CLI commands: error handling, output format, exit codes."""

from __future__ import annotations

import functools
import json
import math
import sys
import traceback
from collections.abc import Callable
from enum import IntEnum
from typing import Any, TypeVar

import click

from evalkit.errors import EvalkitError, InputError

F = TypeVar("F", bound=Callable[..., Any])


class ExitCode(IntEnum):
    """Process exit codes shared by every command."""

    OK = 0
    GATE_FAILED = 1
    USAGE_ERROR = 2
    INTERNAL_ERROR = 3
    INTERRUPTED = 130


def handle_errors(fn: F) -> F:
    """Turn library errors into messages and exit codes.

    ``InputError`` and other ``EvalkitError`` → message on stderr, exit 2; any other
    exception → traceback on stderr, exit 3. ``click`` exceptions pass through.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (click.exceptions.Exit, click.ClickException, click.exceptions.Abort):
            raise
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(ExitCode.INTERRUPTED)
        except (InputError, EvalkitError) as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(ExitCode.USAGE_ERROR)
        except SystemExit:
            raise
        except Exception:
            click.echo("internal error (please report):", err=True)
            click.echo(traceback.format_exc(), err=True)
            sys.exit(ExitCode.INTERNAL_ERROR)

    return wrapper  # type: ignore[return-value]


def format_option(fn: F) -> F:
    """``--format text|json`` on a command."""
    return click.option(
        "--format",
        "output_format",
        type=click.Choice(["text", "json"]),
        default="text",
        show_default=True,
        help="json prints one JSON object on stdout.",
    )(fn)


def _clean(value: Any) -> Any:
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return _clean(value.item())
    return value


def emit_json(obj: Any) -> None:
    """Print one JSON object on stdout (NaN/inf become null, numpy scalars plain)."""
    click.echo(json.dumps(_clean(obj), indent=2, sort_keys=False, default=str))


def fmt_rate(estimate: float | None, low: float | None = None, high: float | None = None) -> str:
    """``0.812 [0.701, 0.889]`` (or ``n/a``)."""
    if estimate is None or (isinstance(estimate, float) and math.isnan(estimate)):
        return "n/a"
    if low is None or high is None:
        return f"{estimate:.3f}"
    return f"{estimate:.3f} [{low:.3f}, {high:.3f}]"


__all__ = ["ExitCode", "InputError", "emit_json", "fmt_rate", "format_option", "handle_errors"]
