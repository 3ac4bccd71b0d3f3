"""The ``evalkit`` command: a click group whose subcommands are imported on demand.

Subcommands live in sibling modules and are imported only when invoked, so
``evalkit --help`` stays fast (no pandas, scipy or llama_cpp at start-up).
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from evalkit import __version__

# name -> (module, attribute, one-line help shown by ``evalkit --help``)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "run": ("evalkit._cli.run", "run", "Run a suite: trials, scores, summary, optional gate."),
    "compare": ("evalkit._cli.compare", "compare", "Compare baseline and candidate (paired)."),
    "gate": ("evalkit._cli.gate", "gate", "Decide PASS / FAIL / INCONCLUSIVE for a run."),
    "report": ("evalkit._cli.report", "report", "Write HTML / Markdown / JUnit reports for a run."),
    "power": ("evalkit._cli.power", "power", "Cases and trials needed to detect an effect."),
    "dataset": (
        "evalkit._cli.dataset",
        "dataset",
        "List, show, validate, diff and freeze datasets.",
    ),
    "score": ("evalkit._cli.score", "score", "Re-score a stored run without re-running it."),
    "judge": ("evalkit._cli.judge", "judge", "Calibrate an LLM judge against human labels."),
}


class LazyGroup(click.Group):
    """A group that imports a subcommand's module only when it is used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Every known subcommand, sorted."""
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """Import and return the subcommand *cmd_name*."""
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module_name, attr, _ = entry
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                return _unavailable(cmd_name)
            raise
        command: click.Command = getattr(module, attr)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """List subcommands with their help without importing them."""
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _unavailable(name: str) -> click.Command:
    @click.command(name=name, help=COMMANDS[name][2])
    def stub() -> None:
        raise click.UsageError(f"'evalkit {name}' is not available in this build")

    return stub


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="evalkit")
def cli() -> None:
    """evalkit: eval-driven development for LLM agent workflows.

    Runs suites many times against versioned datasets, scores every trial,
    reports rates with confidence intervals and gates CI on regressions.

    Exit codes: 0 pass, 1 gate failed, 2 usage or input error, 3 internal error.
    """


def main(argv: list[str] | None = None) -> Any:
    """Console-script entry point."""
    return cli.main(args=argv if argv is not None else sys.argv[1:], prog_name="evalkit")
