"""evalkit in CI: the GitHub Action's gate script and a small GitHub REST client.

``python -m evalkit.ci gate-action`` is what ``.github/actions/evalkit-gate`` runs; see
``docs/use-in-ci.md``. The client is usable on its own::

    from evalkit.ci import GitHubClient

    client = GitHubClient(token, "octo/repo")
    client.upsert_sticky_comment(42, "<!-- my-marker -->", "## results ...")
"""

from __future__ import annotations

from evalkit.ci._environment import GitHubEnvironment, format_output, pull_request_number
from evalkit.ci._gate_action import GateInputs, exit_code_for, plan_command, run_gate_action
from evalkit.ci._github import (
    GitHubAuthError,
    GitHubClient,
    GitHubError,
    GitHubNotFoundError,
    GitHubPermissionError,
    IssueComment,
    StickyResult,
    Transport,
)
from evalkit.ci._summary import render_summary, sticky_marker

__all__ = [
    "GateInputs",
    "GitHubAuthError",
    "GitHubClient",
    "GitHubEnvironment",
    "GitHubError",
    "GitHubNotFoundError",
    "GitHubPermissionError",
    "IssueComment",
    "StickyResult",
    "Transport",
    "exit_code_for",
    "format_output",
    "plan_command",
    "pull_request_number",
    "render_summary",
    "run_gate_action",
    "sticky_marker",
]
