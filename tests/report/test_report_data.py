"""What the reports are built from: comparison mode, case rows, payload budgets."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from report_synthetic import SyntheticSpec, write_run

from evalkit.errors import InputError
from evalkit.report import PayloadLimits, load_report, write_reports
from evalkit.report._payload import build_payload, dump_payload, water_level


def test_compare_run_is_compared_within_itself(compare_run: Path) -> None:
    data = load_report(compare_run)
    assert data.mode == "arms"
    assert (data.baseline_arm, data.candidate_arm) == ("baseline", "candidate")
    assert data.comparison is not None
    assert data.gate is not None
    regressed = {r.case_id for r in data.regressed}
    assert {"c1", "c2", "c4"} <= regressed  # the target breaks exactly these
    assert [r.flip for r in data.cases[: len(regressed)]] == ["regressed"] * len(regressed)
    assert all(r.status == "fail" and "regressed vs baseline" in r.reason
               for r in data.regressed)
    assert data.inputs is not None
    assert data.inputs["c1"][0] == {"q": "question 1"}
    labels = {p.label for p in data.provenance}
    assert {"dataset", "git", "evalkit", "seed / trials", "model"} <= labels


def test_write_reports_defaults_to_the_run_folder(compare_run: Path) -> None:
    paths = write_reports(compare_run)
    assert paths == {"html": compare_run / "report.html", "markdown": compare_run / "summary.md",
                     "junit": compare_run / "junit.xml"}
    assert all(p.stat().st_size > 0 for p in paths.values())


def test_single_run_without_baseline(make_run: Callable[..., Path]) -> None:
    data = load_report(make_run("one", params={"broken": True}))
    assert data.mode == "none"
    assert data.comparison is None
    assert data.gate is not None  # thresholds and the per-case rule still apply
    assert {"c1", "c2", "c4"} <= {r.case_id for r in data.failing}
    assert "completion_rate" in data.mde
    assert any("no baseline" in w for w in data.gate.warnings)


def test_stored_baseline_must_be_single_arm(compare_run: Path,
                                            make_run: Callable[..., Path]) -> None:
    single = make_run("lone")
    with pytest.raises(InputError, match="single-arm"):
        load_report(single, baseline=compare_run)
    data = load_report(single, baseline=make_run("lone2"))
    assert data.mode == "stored"
    assert any("drift" in n for n in data.notes)
    assert any(p.label == "baseline run" and "drift" in p.warning for p in data.provenance)


def test_water_level() -> None:
    lengths = np.array([10, 100, 1000])
    assert water_level(lengths, 300) == 190
    assert water_level(lengths, 10_000) == 1000
    assert water_level(lengths, 0) == 0
    assert water_level(np.array([], dtype=np.int64), 50) == 0


def test_payload_is_inert_json_and_keeps_full_lengths(tmp_path: Path) -> None:
    spec = SyntheticSpec(n_cases=60, trials=3, latency=False, huge_every=7,
                         output_override={("candidate", "case-00001", 0): "</script><!--x"})
    data = load_report(write_run(tmp_path / "run", spec, root=tmp_path))
    limits = PayloadLimits(output_budget=20_000)
    payload = build_payload(data, limits)
    text = dump_payload(payload)
    assert "</" not in text
    assert "<!--" not in text
    assert json.loads(text) == payload
    trials = payload["T"]
    assert len(trials["out"]) == 60 * 3 * 2
    cut_total = sum(len(o or "") for o in trials["out"])
    assert cut_total <= limits.output_budget + limits.min_output * len(trials["out"])
    olen = trials["olen"]
    cut_rows = olen if isinstance(olen, dict) else {str(i): v for i, v in enumerate(olen) if v}
    assert cut_rows
    assert all(v > len(trials["out"][int(i)] or "") for i, v in cut_rows.items())
    assert max(cut_rows.values()) >= 60_000  # the huge outputs, measured before the cut


def test_spans_over_the_cap_keep_priority_traces(tmp_path: Path) -> None:
    spec = SyntheticSpec(n_cases=120, trials=2, latency=False)
    data = load_report(write_run(tmp_path / "run", spec, root=tmp_path))
    payload = build_payload(data, PayloadLimits(max_spans=150))
    counts = payload["T"]["np"]
    assert sum(c for c in counts if c > 0) <= 150
    assert any(c < 0 for c in counts)  # left out, and said so
    first_case_trials = payload["C"]["nt"][0]
    assert data.cases[0].status == "fail" or data.cases[0].flip
    assert all(c > 0 for c in counts[:first_case_trials])  # the top row keeps its traces


def test_judge_calibration_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scorer = pytest.importorskip("evalkit.scorer")
    calibrate = pytest.importorskip("evalkit.scorer._calibrate")
    save = getattr(scorer, "save_calibration", None) or getattr(calibrate, "save_calibration",
                                                                 None)
    if save is None or not hasattr(scorer, "load_calibration"):
        pytest.skip("evalkit.scorer keeps no calibration records")
    monkeypatch.chdir(tmp_path)
    spec = SyntheticSpec(n_cases=40, trials=2, latency=False)
    run = write_run(tmp_path / "run", spec, root=tmp_path)

    def judge_item() -> tuple[str, str]:
        item = next(p for p in load_report(run).provenance if p.label.startswith("judge spec"))
        return item.value, item.warning

    value, warning = judge_item()
    assert value.startswith("sha256:judge0123456789 (model local)")
    assert "calibration missing" in warning
    record = {"spec_hash": "sha256:judge0123456789", "judge": "helpfulness", "model": "local",
              "n": 50, "created_at": "2026-01-01T00:00:00Z",
              "metrics": {"kappa": {"estimate": 0.41, "low": 0.2, "high": 0.6}}}
    save(record)
    assert "calibration weak (κ = 0.41 < 0.6)" in judge_item()[1]
    record["metrics"]["kappa"]["estimate"] = 0.83
    save(record)
    value, warning = judge_item()
    assert warning == ""
    assert "κ = 0.83" in value
