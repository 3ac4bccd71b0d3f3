"""Options shared by the command line and the pytest plugin, defined once.

``evalkit run --trials 5`` and ``pytest --evalkit-trials 5`` are the same option: both
front ends build their flags from :data:`SHARED_OPTIONS`. Standard library only, so
the pytest plugin can import it at start-up for free.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class SharedOption:
    """One option: its name, value type and help, and its default in each front end."""

    name: str
    help: str
    kind: str = "str"
    """``str``, ``int``, ``path``, ``flag`` (an on/off switch) or ``multi`` (repeatable)."""
    metavar: str | None = None
    cli_default: Any = None
    pytest_default: Any = None
    cli_short: str | None = None
    """Short flag on the command line (``-k``)."""

    @property
    def cli_flag(self) -> str:
        """``--judge-model``."""
        return "--" + self.name.replace("_", "-")

    @property
    def pytest_flag(self) -> str:
        """``--evalkit-judge-model``."""
        return "--evalkit-" + self.name.replace("_", "-")


SHARED_OPTIONS: dict[str, SharedOption] = {
    o.name: o
    for o in (
        SharedOption("trials", "Trials per case (K); overrides the suite.", "int", "K",
                     cli_short="-k"),
        SharedOption("seed", "Master seed; overrides the suite.", "int", "S"),
        SharedOption("model", "Model under test: local, openai:NAME, "
                     "openai-compatible:NAME@URL.", metavar="MODEL"),
        SharedOption("judge_model", "Model for LLM-as-judge scorers.", metavar="MODEL"),
        SharedOption("param", "Override a suite param, KEY=VALUE (repeatable).", "multi",
                     "KEY=VALUE", cli_short="-p"),
        SharedOption("baseline", "Stored baseline run folder for regression rules.", "path",
                     "RUN_DIR"),
        SharedOption("report", "Also write the HTML report to this path.", "path", "PATH"),
        SharedOption("gate", "Apply the gate: fail on a FAIL verdict.", "flag",
                     cli_default=False, pytest_default=True),
    )
}


def click_options(*names: str) -> Callable[[Any], Any]:
    """Decorator adding the named shared options to a click command."""
    import click

    def deco(fn: Any) -> Any:
        for name in reversed(names):
            opt = SHARED_OPTIONS[name]
            if opt.kind == "flag":
                decl = f"{opt.cli_flag}/--no-{opt.cli_flag[2:]}"
                fn = click.option(decl, opt.name, default=opt.cli_default, help=opt.help,
                                  show_default=True)(fn)
            elif opt.kind == "multi":
                decls = [opt.cli_flag, *([opt.cli_short] if opt.cli_short else []), opt.name]
                fn = click.option(*decls, multiple=True, metavar=opt.metavar, help=opt.help)(fn)
            else:
                typ: Any = {"int": int, "path": click.Path(), "str": str}[opt.kind]
                decls = [opt.cli_flag, *([opt.cli_short] if opt.cli_short else []), opt.name]
                fn = click.option(*decls, type=typ, metavar=opt.metavar,
                                  default=opt.cli_default, help=opt.help)(fn)
        return fn

    return deco


def add_pytest_options(group: Any, *names: str) -> None:
    """Add the named shared options to a pytest option group (``--evalkit-…``)."""
    for name in names:
        opt = SHARED_OPTIONS[name]
        dest = f"evalkit_{opt.name}"
        if opt.kind == "flag":
            group.addoption(opt.pytest_flag, action="store_true", dest=dest,
                            default=opt.pytest_default, help=opt.help)
            group.addoption("--no-" + opt.pytest_flag[2:], action="store_false", dest=dest,
                            help=f"Do not: {opt.help[0].lower()}{opt.help[1:]}")
        elif opt.kind == "multi":
            group.addoption(opt.pytest_flag, action="append", dest=dest, default=[],
                            metavar=opt.metavar, help=opt.help)
        else:
            group.addoption(opt.pytest_flag, action="store", dest=dest,
                            type=int if opt.kind == "int" else str,
                            default=opt.pytest_default, metavar=opt.metavar, help=opt.help)
