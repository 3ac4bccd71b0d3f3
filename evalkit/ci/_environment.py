"""What a GitHub Actions step sees: environment, event payload, outputs, summary, annotations.

Everything is read from an explicit mapping (``os.environ`` by default), so the gate
script runs the same under Actions, under a test with a simulated environment, and on a
laptop (where the summary and outputs are simply not written).
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

__all__ = [
    "GitHubEnvironment",
    "annotate",
    "format_output",
    "pull_request_number",
]


def pull_request_number(event: Mapping[str, Any]) -> int | None:
    """The pull request an event is about, or None (push, schedule, manual runs, …).

    Handles ``pull_request`` / ``pull_request_target`` (``pull_request.number``) and
    ``issue_comment`` on a pull request (``issue.number`` with ``issue.pull_request``).
    """
    pr = event.get("pull_request")
    if isinstance(pr, Mapping) and isinstance(pr.get("number"), int):
        return int(pr["number"])
    issue = event.get("issue")
    if isinstance(issue, Mapping) and issue.get("pull_request") and isinstance(
        issue.get("number"), int
    ):
        return int(issue["number"])
    return None


def format_output(name: str, value: str) -> str:
    """One ``$GITHUB_OUTPUT`` entry in the multiline-safe heredoc form.

    The delimiter is random and checked against the value, so a value cannot end the
    block early and inject other outputs.
    """
    while True:
        delimiter = f"ghadelimiter_{secrets.token_hex(12)}"
        if delimiter not in value:
            break
    return f"{name}<<{delimiter}\n{value}\n{delimiter}\n"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def annotate(
    level: str, message: str, *, title: str | None = None, stream: TextIO | None = None
) -> None:
    """Print a workflow command (``::error::``, ``::warning::``, ``::notice::``).

    Outside Actions these are ordinary, readable lines on stderr.
    """
    prop = f" title={_escape_data(title).replace(',', '%2C').replace(':', '%3A')}" if title else ""
    print(f"::{level}{prop}::{_escape_data(message)}", file=stream or sys.stderr, flush=True)


@dataclass(frozen=True)
class GitHubEnvironment:
    """The parts of the Actions environment the gate uses.

    Attributes:
        repository: ``owner/name`` (``GITHUB_REPOSITORY``).
        api_url: REST API root (``GITHUB_API_URL``).
        server_url: web root (``GITHUB_SERVER_URL``) for links.
        run_id: ``GITHUB_RUN_ID``, for a link to the run and its artifacts.
        event_name: ``GITHUB_EVENT_NAME``.
        event: the event payload read from ``GITHUB_EVENT_PATH`` (empty when absent).
        step_summary: ``GITHUB_STEP_SUMMARY`` file, or None outside Actions.
        output: ``GITHUB_OUTPUT`` file, or None outside Actions.
        token: the token for the PR comment (``GITHUB_TOKEN``); never printed.
    """

    repository: str
    api_url: str
    server_url: str
    run_id: str
    event_name: str
    event: Mapping[str, Any]
    step_summary: Path | None
    output: Path | None
    token: str = ""

    def __repr__(self) -> str:  # the token stays out of logs and tracebacks
        return (
            f"GitHubEnvironment(repository={self.repository!r}, event_name="
            f"{self.event_name!r}, pr={self.pr_number!r})"
        )

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> GitHubEnvironment:
        """Read the environment (``os.environ`` by default).

        Raises:
            ValueError: when ``GITHUB_EVENT_PATH`` names a file that is not JSON.
        """
        env = os.environ if environ is None else environ
        event: Mapping[str, Any] = {}
        event_path = env.get("GITHUB_EVENT_PATH", "")
        if event_path and Path(event_path).is_file():
            try:
                loaded = json.loads(Path(event_path).read_text(encoding="utf-8"))
            except json.JSONDecodeError as exc:
                raise ValueError(f"GITHUB_EVENT_PATH {event_path}: not JSON ({exc})") from None
            event = loaded if isinstance(loaded, dict) else {}

        def path(name: str) -> Path | None:
            value = env.get(name, "")
            return Path(value) if value else None

        return cls(
            repository=env.get("GITHUB_REPOSITORY", ""),
            api_url=env.get("GITHUB_API_URL", "https://api.github.com"),
            server_url=env.get("GITHUB_SERVER_URL", "https://github.com"),
            run_id=env.get("GITHUB_RUN_ID", ""),
            event_name=env.get("GITHUB_EVENT_NAME", ""),
            event=event,
            step_summary=path("GITHUB_STEP_SUMMARY"),
            output=path("GITHUB_OUTPUT"),
            token=env.get("GITHUB_TOKEN", ""),
        )

    @property
    def pr_number(self) -> int | None:
        """The pull request of this run, if any."""
        return pull_request_number(self.event)

    @property
    def run_url(self) -> str | None:
        """Link to this workflow run (its artifacts are listed at the bottom)."""
        if not (self.repository and self.run_id):
            return None
        return f"{self.server_url.rstrip('/')}/{self.repository}/actions/runs/{self.run_id}"

    def set_outputs(self, values: Mapping[str, str]) -> None:
        """Append step outputs to ``$GITHUB_OUTPUT`` (no-op outside Actions)."""
        if self.output is None:
            return
        with self.output.open("a", encoding="utf-8") as fh:
            for name, value in values.items():
                fh.write(format_output(name, value))

    def add_summary(self, markdown: str) -> None:
        """Append Markdown to the job summary (no-op outside Actions)."""
        if self.step_summary is None:
            return
        with self.step_summary.open("a", encoding="utf-8") as fh:
            fh.write(markdown if markdown.endswith("\n") else markdown + "\n")
