from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from click.testing import CliRunner

from evalkit._cli.main import cli


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_run_text_output(make_suite) -> None:
    path = make_suite(target="ek_test_targets:noisy", trials=4)
    result = invoke("run", str(path), "--no-reports", "--no-progress")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "6 cases x 4 trials = 24 trials" in out
    assert "completion_rate" in out and "[" in out and "run folder:" in out


def test_run_json_output_parses_and_has_metrics(make_suite) -> None:
    path = make_suite(trials=3)
    result = invoke("run", str(path), "--format", "json", "--no-reports", "-k", "2",
                    "-p", "anything=1")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    m = payload["metrics"]["completion_rate"]
    assert set(m) == {"estimate", "ci_low", "ci_high", "n_cases", "n_trials"}
    assert m["estimate"] == 1.0 and m["n_cases"] == 6 and m["n_trials"] == 12
    assert payload["counts"] == {"ok": 12}
    assert Path(payload["run_dir"], "trials.parquet").is_file()
    manifest = json.loads(Path(payload["run_dir"], "manifest.json").read_text())
    assert manifest["params"] == {"anything": 1} and manifest["trials"] == 2


def test_run_errors_exit_2_with_key_path(make_suite, project: Path) -> None:
    path = make_suite(trails=3)
    result = CliRunner().invoke(cli, ["run", str(path)])
    assert result.exit_code == 2
    assert "trails" in result.output and "unknown key" in result.output
    result = CliRunner().invoke(cli, ["run", "suites/missing.yaml"])
    assert result.exit_code == 2 and "suite file not found" in result.output
    result = CliRunner().invoke(cli, ["run"])
    assert result.exit_code == 2 and "give a SUITE" in result.output
    bad = make_suite(name="bad", target="ek_test_targets:nope")
    result = CliRunner().invoke(cli, ["run", str(bad)])
    assert result.exit_code == 2 and "has no attribute 'nope'" in result.output


def test_dataset_commands(project: Path) -> None:
    r = invoke("dataset", "list")
    assert r.exit_code == 0 and "mini" in r.output and "6 cases" in r.output
    r = invoke("dataset", "show", "mini", "--format", "json")
    assert json.loads(r.output)["n_cases"] == 6
    r = invoke("dataset", "freeze", "mini")
    assert r.exit_code == 0 and "froze mini@1.0.0" in r.output
    cases = project / "datasets" / "mini" / "cases.jsonl"
    cases.write_text(cases.read_text() + '{"id": "c0", "input": {"q": 1}}\n{bad json\n'
                     '{"id": "c9", "input": {}}\n')
    r = CliRunner().invoke(cli, ["dataset", "validate", "mini"])
    assert r.exit_code == 2
    assert "cases.jsonl:7: id: duplicate id 'c0' (first on line 1)" in r.output
    assert "cases.jsonl:8: invalid JSON" in r.output
    assert "cases.jsonl:9: input: 'q' is a required property" in r.output


def test_dataset_diff(project: Path) -> None:
    invoke("dataset", "freeze", "mini")
    folder = project / "datasets" / "mini"
    meta = folder / "dataset.yaml"
    meta.write_text(meta.read_text().replace("1.0.0", "1.1.0"))
    lines = (folder / "cases.jsonl").read_text().splitlines()[1:]
    (folder / "cases.jsonl").write_text("\n".join(lines) + "\n")
    r = invoke("dataset", "diff", "mini@1.0.0", "mini")
    assert r.exit_code == 0 and "0 added, 1 removed, 0 changed" in r.output and "- c0" in r.output


def test_help_is_fast_and_lists_commands() -> None:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "evalkit", "--help"], capture_output=True,
                          text=True, check=True)
    elapsed = time.perf_counter() - t0
    for name in ("run", "compare", "gate", "report", "dataset", "power", "judge", "score"):
        assert name in proc.stdout
    # generous bound: this asserts that no heavy module is imported, not a speed target
    mods = subprocess.run(
        [sys.executable, "-c", "import sys, evalkit._cli.main; "
         "print(sorted(m for m in ('pandas','scipy','pyarrow','llama_cpp','openai','numpy') "
         "if m in sys.modules))"], capture_output=True, text=True, check=True)
    assert mods.stdout.strip() == "[]"
    assert elapsed < 5
