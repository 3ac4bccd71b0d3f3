"""``evalkit compare`` on stored runs and in one job."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "stats"))
from statsim import beta_rates, make_run, write_run_folder

from evalkit._cli.main import cli


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


def _pair(tmp_path, drop=0.25, n=40, hash_b=None):
    rng = np.random.default_rng(3)
    r = beta_rates(rng, n, 0.8, 5)
    ta, sa = make_run(r, 3, rng=rng, tags=[["x"] if i % 2 else ["y"] for i in range(n)])
    tb, sb = make_run(np.clip(r - drop, 0, 1), 3, rng=rng,
                      tags=[["x"] if i % 2 else ["y"] for i in range(n)])
    a = write_run_folder(tmp_path / "a", ta, sa)
    b = write_run_folder(tmp_path / "b", tb.iloc[:-3], sb[sb.case_id != tb.case_id.iloc[-1]],
                         **({"dataset_hash": hash_b} if hash_b else {}))
    return a, b


def test_compare_stored_runs_json(tmp_path):
    a, b = _pair(tmp_path)
    result = invoke("compare", str(a), str(b), "--format", "json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    d = payload["deltas"]["completion_rate"]
    assert {"estimate", "ci_low", "ci_high", "p_value"} <= set(d)
    assert d["estimate"] < 0
    assert d["regression"] is True
    # the candidate lost its last case: reported, not silently dropped
    assert payload["metrics"]["completion_rate"]["n_cases"] == 39
    assert payload["baseline_metrics"]["completion_rate"]["n_cases"] == 40
    assert payload["n_paired"] == 39
    assert payload["only_in_baseline"] == ["c0039"]
    assert payload["regressed_cases"]
    assert any("drift" in n for n in payload["notes"])
    assert set(payload["by_tag"]) == {"x", "y"}


def test_compare_text_table(tmp_path):
    a, b = _pair(tmp_path)
    result = invoke("compare", str(a), str(b))
    assert result.exit_code == 0, result.output
    assert "Δ [95% CI]" in result.output
    assert "REGRESSION" in result.output
    assert "drift" in result.output


def test_different_datasets_refused_unless_intersect(tmp_path):
    a, b = _pair(tmp_path, hash_b="sha256:" + "ef" * 32)
    refused = invoke("compare", str(a), str(b))
    assert refused.exit_code == 2
    assert "--intersect" in refused.output
    ok = invoke("compare", str(a), str(b), "--intersect", "--format", "json")
    assert ok.exit_code == 0, ok.output
    notes = json.loads(ok.output)["notes"]
    assert any("comparing the 39 case(s) both runs have" in n for n in notes)


def test_sequential_replay(tmp_path):
    a, b = _pair(tmp_path, drop=0.4, n=60)
    result = invoke("compare", str(a), str(b), "--sequential", "3", "--format", "json")
    assert result.exit_code == 0, result.output
    seq = json.loads(result.output)["sequential"]
    assert seq["decision"] == "stop-fail"
    assert seq["looks"][0]["n_cases"] == 20


def test_usage_errors(tmp_path):
    a, _ = _pair(tmp_path)
    assert invoke("compare", str(a)).exit_code == 2
    assert invoke("compare", str(a), str(a), "--baseline", "x=1").exit_code == 2


def test_compare_suite_runs_both_arms_in_one_job(make_suite):
    path = make_suite(target="ek_test_targets:noisy", trials=3)
    result = invoke("compare", str(path), "--baseline", "error_rate=0.0", "--candidate",
                    "error_rate=0.9", "--format", "json", "--no-progress")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    d = payload["deltas"]["completion_rate"]
    assert d["baseline"] == 1.0
    assert d["candidate"] < 0.5
    assert payload["n_paired"] == 6
    assert any("one job" in n for n in payload["notes"])
