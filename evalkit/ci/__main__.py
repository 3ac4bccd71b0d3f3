"""``python -m evalkit.ci gate-action ...``: the entry point of the GitHub Action.

Every option takes a string and treats "" as unset, so the composite action can pass
each of its inputs unconditionally. The token comes from ``GITHUB_TOKEN`` in the
environment, never from the command line (where ``ps`` and logs would show it).
"""

from __future__ import annotations

import os
import sys
import traceback

import click

from evalkit.ci._environment import GitHubEnvironment, annotate
from evalkit.ci._gate_action import (
    INTERNAL_ERROR,
    inputs_from_strings,
    report_input_error,
    run_gate_action,
)
from evalkit.errors import InputError

_OPTIONS = (
    ("suite", "Suite file to run (suites/x.yaml); optional when gating stored runs."),
    ("baseline-params", "Baseline arm params: key=value, space or newline separated."),
    ("candidate-params", "Candidate arm params: key=value, space or newline separated."),
    ("baseline-run", "Stored baseline run folder."),
    ("candidate-run", "Stored candidate run folder."),
    ("trials", "Trials per case (K); default: the suite's."),
    ("gate-policy", "What INCONCLUSIVE does: fail or warn; default: the suite's."),
    ("report-path", "Where the HTML report goes (default evalkit-report/report.html)."),
    ("artifact-name", "Artifact name to link from the comment (default evalkit-<suite>)."),
    ("comment", "true/false: create or update the sticky PR comment (default true)."),
    ("extra-args", "More options for the evalkit command, e.g. '--model local'."),
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """CI helpers of evalkit (used by .github/actions/evalkit-gate)."""


def _gate_action(**values: str | None) -> None:
    strings = {name.replace("_", "-"): value or "" for name, value in values.items()}
    try:
        env = GitHubEnvironment.from_environ()
        inputs = inputs_from_strings(strings)
    except (InputError, ValueError) as exc:
        sys.exit(report_input_error(GitHubEnvironment.from_environ({
            k: v for k, v in os.environ.items() if k != "GITHUB_EVENT_PATH"}), str(exc)))
    try:
        code = run_gate_action(inputs, env)
    except Exception:
        # A crash must not read as FAIL (exit 1): say so and exit 3, evalkit's "internal".
        traceback.print_exc()
        annotate("error", "evalkit gate crashed (internal error, please report): "
                 + traceback.format_exc(limit=1).strip().splitlines()[-1])
        code = INTERNAL_ERROR
    sys.exit(code)


for _name, _help in reversed(_OPTIONS):
    _gate_action = click.option(f"--{_name}", default="", help=_help)(_gate_action)
cli.command(
    "gate-action",
    help="Run the gate, write the job summary and outputs, upsert the PR comment.\n\n"
    "Exit code: 0 PASS, 1 FAIL (and INCONCLUSIVE under the fail policy), "
    "2 bad input, 3 evalkit failed.",
)(_gate_action)


def main() -> None:
    """Console entry point."""
    cli(prog_name="python -m evalkit.ci")


if __name__ == "__main__":
    main()
