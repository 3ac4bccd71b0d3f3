"""``evalkit report`` end to end through click's CliRunner."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from click.testing import CliRunner

from evalkit._cli.main import cli


def test_writes_three_files_into_the_run_folder(compare_run: Path) -> None:
    result = CliRunner().invoke(cli, ["report", str(compare_run)])
    assert result.exit_code == 0, result.output
    for name in ("report.html", "summary.md", "junit.xml"):
        assert (compare_run / name).is_file()
        assert str(compare_run / name) in result.output
    assert "regressed" in result.output


def test_json_output_and_custom_paths(compare_run: Path, tmp_path: Path) -> None:
    html, md, xml = tmp_path / "r.html", tmp_path / "s.md", tmp_path / "j.xml"
    result = CliRunner().invoke(cli, [
        "report", str(compare_run), "-o", str(html), "--markdown", str(md), "--junit", str(xml),
        "--report-url", "https://ci.example/r.html", "--format", "json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["verdict"] in {"PASS", "FAIL", "INCONCLUSIVE"}
    assert payload["files"] == {"html": str(html), "markdown": str(md), "junit": str(xml)}
    assert set(payload["metrics"]["completion_rate"]) == {
        "estimate", "ci_low", "ci_high", "n_cases", "n_trials"}
    assert set(payload["deltas"]["completion_rate"]) == {"estimate", "ci_low", "ci_high",
                                                         "p_value"}
    assert payload["regressed_cases"] >= 2
    assert "(https://ci.example/r.html)" in md.read_text()
    assert html.read_text().startswith("<!doctype html>")


def test_stored_baseline_is_paired_by_case_and_flagged(
        make_run: Callable[..., Path]) -> None:
    base = make_run("base")
    cand = make_run("cand", params={"broken": True})
    result = CliRunner().invoke(cli, ["report", str(cand), "--baseline", str(base),
                                      "--format", "json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["comparison"] == "stored"
    assert payload["regressed_cases"] >= 2
    assert any("drift" in note for note in payload["notes"])
    assert "drift" in (cand / "summary.md").read_text()


def test_errors_exit_2_with_a_message(compare_run: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(cli, ["report", str(tmp_path / "nope")])
    assert missing.exit_code == 2
    not_a_run = runner.invoke(cli, ["report", str(tmp_path)])
    assert not_a_run.exit_code == 2
    assert "manifest.json" in not_a_run.output
    both = runner.invoke(cli, ["report", str(compare_run), "--baseline", str(compare_run)])
    assert both.exit_code == 2
    assert "compared within itself" in both.output
