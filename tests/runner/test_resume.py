"""Resume after a hard kill (SIGKILL) and after Ctrl-C, on a real subprocess."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pandas as pd

from evalkit.results import open_run


def _start(args: list[str], cwd: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(cwd / "suites")}
    return subprocess.Popen([sys.executable, "-m", "evalkit", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_lines(path: Path, n: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and len(path.read_text().splitlines()) >= n:
            return
        time.sleep(0.02)
    raise AssertionError(f"{path} never reached {n} lines")


def _journal_trials(run_dir: Path) -> int:
    return max(0, len((run_dir / "journal.jsonl").read_text().splitlines()) - 1)


def test_resume_after_sigkill_loses_nothing_and_duplicates_nothing(
    make_suite, project: Path,
) -> None:
    log = project / "calls.log"
    make_suite(name="kill", target="ek_test_targets:logged", trials=10, concurrency=2,
               params={"log": str(log), "sleep": 0.1})
    run_dir = project / "reports" / "killed"
    proc = _start(["run", "suites/kill.yaml", "--out", str(run_dir), "--no-reports",
                   "--no-progress", "--format", "json"], project)
    _wait_for_lines(run_dir / "journal.jsonl", 15)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    journaled = _journal_trials(run_dir)
    started_before_kill = len(log.read_text().splitlines())
    assert 14 <= journaled < 60
    # every trial that finished was journaled; only the ones in flight (<= concurrency) were not
    assert started_before_kill - journaled <= 2
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "running"
    assert not (run_dir / "trials.parquet").exists()

    proc = _start(["run", "--resume", str(run_dir), "--no-reports", "--no-progress",
                   "--format", "json"], project)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    payload = json.loads(out)
    assert payload["counts"] == {"ok": 60}

    run = open_run(run_dir)
    keys = list(zip(run.trials.case_id, run.trials.trial, strict=True))
    assert len(keys) == 60 and len(set(keys)) == 60
    assert set(run.trials.status) == {"ok"}
    assert len(run.scores) == 60
    calls = Counter(log.read_text().splitlines())
    assert set(calls) == {f"c{i}:{k}" for i in range(6) for k in range(10)}
    repeated = sum(n - 1 for n in calls.values())
    assert repeated <= 2, f"{repeated} trials ran twice (only in-flight ones may)"
    assert run.manifest["status"] == "complete"
    assert run.manifest["resumed"][0]["trials_done"] == journaled

    # the resumed tables have the same shape as an uninterrupted run
    fresh = project / "reports" / "fresh"
    proc = _start(["run", "suites/kill.yaml", "--out", str(fresh), "--no-reports", "--no-progress"],
                  project)
    proc.communicate(timeout=120)
    ref = open_run(fresh)
    for name in ("trials", "scores", "spans"):
        a, b = getattr(run, name), getattr(ref, name)
        assert list(a.columns) == list(b.columns) and (a.dtypes == b.dtypes).all()
        assert len(a) == len(b)
    cols = ["case_id", "trial", "seed", "status", "output"]
    pd.testing.assert_frame_equal(
        run.trials[cols].sort_values(["case_id", "trial"]).reset_index(drop=True),
        ref.trials[cols].sort_values(["case_id", "trial"]).reset_index(drop=True))


def test_ctrl_c_leaves_a_resumable_run(make_suite, project: Path) -> None:
    log = project / "calls.log"
    # 60 trials of 0.2 s at concurrency 2 take 6 s: the signal lands mid-run even when a
    # loaded machine starves the polling loop (0.05 s trials once let the run finish first).
    make_suite(name="intr", target="ek_test_targets:logged", trials=10, concurrency=2,
               params={"log": str(log), "sleep": 0.2})
    run_dir = project / "reports" / "intr"
    proc = _start(["run", "suites/intr.yaml", "--out", str(run_dir), "--no-reports",
                   "--no-progress"], project)
    _wait_for_lines(run_dir / "journal.jsonl", 6)
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert f"evalkit run --resume {run_dir}" in err
    assert json.loads((run_dir / "manifest.json").read_text())["status"] == "interrupted"
    proc = _start(["run", "--resume", str(run_dir), "--no-reports", "--no-progress"], project)
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert len(open_run(run_dir).trials) == 60


def test_truncated_journal_tail_is_rerun(make_suite, project: Path) -> None:
    from evalkit.runner import run_suite
    from evalkit.suite import load_suite

    path = make_suite(name="trunc")
    result = run_suite(load_suite(path), out_dir="reports/trunc")
    run_dir = result.run_dir
    journal = run_dir / "journal.jsonl"
    lines = journal.read_text().splitlines(keepends=True)
    # simulate a crash: drop the tables, cut the last record in half
    for name in ("trials", "scores", "spans"):
        (run_dir / f"{name}.parquet").unlink()
    manifest = json.loads((run_dir / "manifest.json").read_text())
    manifest["status"] = "running"
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    journal.write_text("".join(lines[:-1]) + lines[-1][: len(lines[-1]) // 2])
    resumed = run_suite(resume=run_dir)
    assert resumed.stats["trials_run"] == 1
    run = open_run(run_dir)
    assert len(run.trials) == 12 and run.trials[["case_id", "trial"]].duplicated().sum() == 0
