"""``run`` / ``compare`` / ``gate`` read only the statistics' columns, with the same output.

Each command is run twice on the same folders: as shipped (``RunData.stats_frames``) and
with ``stats_frames`` swapped for the full ``run.trials`` / ``run.scores``; the JSON must
be identical.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "stats"))
from statsim import beta_rates, make_run, write_run_folder

from evalkit._cli.main import cli
from evalkit._cli.run import summarize
from evalkit.results import RunData

CAL = {"status": "ok", "message": "calibrated", "kappa": 0.7, "sensitivity": 0.9,
       "specificity": 0.8, "m0": 100, "m1": 100, "n": 200}
SCORERS = (("exact", "exact", True), ("judge", "correct", False))
GATE = {"thresholds": {"completion_rate": {"min": 0.5}},
        "regression": {"completion_rate": {"margin": 0.05}}}


def _run(rng, arm: str, drop: float = 0.0, judged: bool = False):
    r = beta_rates(rng, 30, 0.8, 5)
    status = rng.choice(["ok", "ok", "ok", "error"], size=(30, 3))
    t, s = make_run(np.clip(r - drop, 0, 1), 3, rng=rng, arm=arm, status=status,
                    scorers=SCORERS, tags=[["x"] if i % 2 else ["y"] for i in range(30)])
    t["output"] = [json.dumps({"answer": "y" * int(n)}) for n in rng.integers(1, 30, len(t))]
    if judged:
        flag = json.dumps({"calibration": CAL, "correct_for_judge_error": True})
        s["details"] = np.where(s["scorer"] == "judge", flag, None)
    return t, s


@pytest.fixture
def folders(tmp_path):
    rng = np.random.default_rng(4)
    ta, sa = _run(rng, "main", judged=True)
    tb, sb = _run(rng, "main", drop=0.2)
    a = write_run_folder(tmp_path / "a", ta, sa, gate=GATE)
    b = write_run_folder(tmp_path / "b", tb, sb, gate=GATE)
    t1, s1 = _run(rng, "baseline", judged=True)
    t2, s2 = _run(rng, "candidate", drop=0.1, judged=True)
    import pandas as pd

    two = write_run_folder(tmp_path / "two", pd.concat([t1, t2]), pd.concat([s1, s2]),
                           gate=GATE)
    return a, b, two


def _both(monkeypatch, fn):
    narrow = fn()
    with monkeypatch.context() as m:
        m.setattr(RunData, "stats_frames", lambda self, **_: (self.trials, self.scores))
        full = fn()
    return narrow, full


@pytest.mark.parametrize(("command", "corrected"), [
    # the correction is per arm: the candidate's metrics have it when its own scores
    # asked for it (run a did, run b did not)
    (("compare", "{a}", "{b}"), False),
    (("compare", "{a}", "{b}", "--no-gate"), False),
    (("gate", "{b}", "--baseline", "{a}"), False),
    (("gate", "{two}"), True),
    (("compare", "{b}", "{a}"), True),
])
def test_cli_output_is_the_same_as_from_the_full_tables(folders, monkeypatch, command,
                                                        corrected):
    a, b, two = folders
    args = [c.format(a=a, b=b, two=two) for c in command] + ["--format", "json"]

    def invoke():
        result = CliRunner().invoke(cli, args)
        assert result.exit_code in (0, 1), result.output
        return result.exit_code, result.output

    narrow, full = _both(monkeypatch, invoke)
    assert narrow == full
    # with the correction, the answer-length check read both arms' outputs
    assert ("corrected_pass_rate:correct" in json.loads(narrow[1])["metrics"]) is corrected


def test_run_summary_is_the_same_as_from_the_full_tables(folders, monkeypatch):
    two = folders[2]
    narrow, full = _both(monkeypatch, lambda: json.dumps(summarize(two), default=repr))
    assert narrow == full
    assert set(json.loads(narrow)) == {"baseline", "candidate"}
