"""Narrow reads of a run folder: ``RunData.table`` and ``RunData.stats_frames``.

The statistics must come out exactly the same from the narrow frames (only the columns
they read, keys as categoricals) as from the full ``run.trials`` / ``run.scores``.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "stats"))
from statsim import make_run

from evalkit.errors import RunFolderError
from evalkit.results import SCORE_COLUMNS, TRIAL_COLUMNS, open_run
from evalkit.results._schema import arrow_schemas
from evalkit.stats import compare_frames, compare_runs, summarize_run
from evalkit.stats._trials import STATS_SCORE_COLUMNS, STATS_TRIAL_COLUMNS

SCORERS = (("exact", "exact", True), ("judge", "correct", False), ("fmt", "fmt", False))
CAL = {"status": "ok", "message": "calibrated", "kappa": 0.7, "sensitivity": 0.9,
       "specificity": 0.8, "m0": 100, "m1": 100, "n": 200,
       "labels": {"name": "labels", "version": "1.0.0"}}


def _arm(arm: str, seed: int, n: int = 30, k: int = 3) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One arm with every feature the statistics read, in an awkward order."""
    rng = np.random.default_rng(seed)
    status = rng.choice(["ok", "ok", "ok", "ok", "error", "timeout", "infra_error"],
                        size=(n, k))
    # case ids whose first-seen order is not their sorted order ("c-10" < "c-2")
    ids = [f"c-{i}" if i % 7 else f"é-{i}" for i in range(n)]
    trials, scores = make_run(
        rng.uniform(0.2, 0.9, n), k, rng=rng, arm=arm, status=status,
        clusters=[None if i % 4 == 0 else f"g{i % 5}" for i in range(n)],
        tags=[["happy", "edge"][: i % 3] for i in range(n)], scorers=SCORERS)
    rename = {f"c{i:04d}": ids[i] for i in range(n)}
    trials["case_id"] = trials["case_id"].map(rename)
    scores["case_id"] = scores["case_id"].map(rename)
    trials["outcome"] = rng.choice(np.array(["answered", "refused", None], dtype=object),
                                   size=len(trials))
    trials["output"] = [json.dumps({"answer": "x" * int(v)})
                        for v in rng.integers(0, 40, len(trials))]
    trials["tool_errors"] = rng.integers(0, 3, len(trials))
    # scorer errors, a metric left empty (falls back to the scorer name), partial credit
    err = rng.random(len(scores)) < 0.1
    scores.loc[err, "status"] = np.where(rng.random(int(err.sum())) < 0.5, "scorer_error",
                                         "judge_error")
    scores["passed"] = scores["passed"].astype(object)
    scores.loc[err, "passed"] = None
    scores.loc[err, "value"] = math.nan
    scores.loc[scores["scorer"] == "fmt", "metric"] = None
    scores.loc[scores["scorer"] == "fmt", "value"] = rng.uniform(0, 1, (scores["scorer"] ==
                                                                       "fmt").sum())
    scores["details"] = None
    return trials, scores


def _judged(scores: pd.DataFrame) -> pd.DataFrame:
    details = json.dumps({"calibration": CAL, "correct_for_judge_error": True})
    return scores.assign(details=np.where(scores["scorer"] == "judge", details, None))


def _write(path: Path, trials: pd.DataFrame, scores: pd.DataFrame, seed: int = 7) -> Path:
    """A run folder written with the stored schema, rows shuffled."""
    path.mkdir(parents=True)
    rng = np.random.default_rng(1)
    arms = sorted(trials["arm"].unique())
    (path / "manifest.json").write_text(json.dumps({
        "run_id": path.name, "status": "complete", "seed": seed,
        "arms": {a: {} for a in arms}}))
    schemas = arrow_schemas()
    for name, frame, columns in (("trials", trials, TRIAL_COLUMNS),
                                 ("scores", scores, SCORE_COLUMNS)):
        frame = frame.iloc[rng.permutation(len(frame))].reset_index(drop=True)
        data = pd.DataFrame({"run_id": path.name}, index=frame.index)
        for c in columns:
            data[c] = frame[c].astype(object) if c in frame else None
        table = pa.Table.from_pandas(data, schema=schemas[name], preserve_index=False)
        pq.write_table(table, path / f"{name}.parquet", row_group_size=max(len(frame) // 3, 1))
    pq.write_table(schemas["spans"].empty_table(), path / "spans.parquet")
    return path


def _same(a: Any, b: Any) -> None:
    """Equal to_dict() payloads, NaN equal to NaN."""
    dump = {"sort_keys": True, "default": repr}
    assert json.dumps(a, **dump) == json.dumps(b, **dump)


@pytest.fixture
def two_arm(tmp_path: Path) -> Path:
    ta, sa = _arm("baseline", 1)
    tb, sb = _arm("candidate", 2)
    return _write(tmp_path / "two", pd.concat([ta, tb]), pd.concat([sa, sb]))


@pytest.mark.parametrize("judged", [False, True])
@pytest.mark.parametrize("missing", ["fail", "exclude"])
def test_stats_frames_summarise_exactly_like_the_full_tables(tmp_path, judged, missing) -> None:
    ta, sa = _arm("baseline", 1)
    tb, sb = _arm("candidate", 2)
    scores = pd.concat([sa, sb])
    run_dir = _write(tmp_path / "run", pd.concat([ta, tb]), _judged(scores) if judged else scores)
    run = open_run(run_dir)
    trials, narrow_scores = run.stats_frames()
    assert ("output" in trials.columns) is judged
    assert set(trials.columns) <= set(STATS_TRIAL_COLUMNS)
    assert list(narrow_scores.columns) == list(STATS_SCORE_COLUMNS)
    for arm in ("baseline", "candidate"):
        full = summarize_run(run.trials, run.scores, arm=arm, missing=missing, seed=3)
        narrow = summarize_run(trials, narrow_scores, arm=arm, missing=missing, seed=3)
        _same(narrow.to_dict(), full.to_dict())
        if judged:
            assert "corrected_pass_rate:correct" in narrow.metrics
            assert narrow.to_dict() == narrow.to_dict()
    _same(compare_runs(trials, narrow_scores, missing=missing, seed=3).to_dict(),
          compare_runs(run.trials, run.scores, missing=missing, seed=3).to_dict())


def test_stats_frames_compare_two_stored_runs_like_the_full_tables(tmp_path) -> None:
    ta, sa = _arm("main", 1)
    tb, sb = _arm("main", 2)
    a = open_run(_write(tmp_path / "a", ta, _judged(sa)))
    gone = {"c-1", "c-2", "é-7"}  # cases only the baseline has: other categories
    b = open_run(_write(tmp_path / "b", tb[~tb["case_id"].isin(gone)],
                        sb[~sb["case_id"].isin(gone)]))
    # the candidate run asks for no correction, but the baseline's applies to both arms
    assert a.asks_judge_correction() and not b.asks_judge_correction()
    got = compare_frames(*a.stats_frames(output=True), *b.stats_frames(output=True), seed=5)
    want = compare_frames(a.trials, a.scores, b.trials, b.scores, seed=5)
    _same(got.to_dict(), want.to_dict())


def test_stats_frames_are_narrow_categorical_and_cached(two_arm) -> None:
    run = open_run(two_arm)
    trials, scores = run.stats_frames()
    assert run.stats_frames()[0] is trials
    assert "output" not in trials.columns and "seed" not in trials.columns
    for frame, full in ((trials, run.trials), (scores, run.scores)):
        for column in ("arm", "case_id", "status"):
            col = frame[column]
            assert isinstance(col.dtype, pd.CategoricalDtype)
            assert list(col.cat.categories) == sorted(col.cat.categories)
            assert col.astype(str).tolist() == full[column].astype(str).tolist()
    # asked for the outputs (a stored baseline's correction), trials load again with them
    with_output = run.stats_frames(output=True)[0]
    assert "output" in with_output.columns and run.stats_frames()[0] is with_output
    assert run.stats_frames()[1] is scores
    # run.trials / run.scores keep every column, strings as strings
    assert list(run.trials.columns) == ["run_id", *TRIAL_COLUMNS]
    assert not isinstance(run.trials["case_id"].dtype, pd.CategoricalDtype)


def test_stats_frames_skip_columns_an_older_file_lacks(tmp_path) -> None:
    ta, sa = _arm("main", 1)
    run_dir = _write(tmp_path / "old", ta, sa)
    table = pq.read_table(run_dir / "trials.parquet").drop_columns(["outcome", "cluster"])
    pq.write_table(table, run_dir / "trials.parquet")
    run = open_run(run_dir)
    trials, scores = run.stats_frames()
    assert "outcome" not in trials.columns and "cluster" not in trials.columns
    _same(summarize_run(trials, scores, seed=1).to_dict(),
          summarize_run(run.trials, run.scores, seed=1).to_dict())


def test_table_reads_the_columns_asked_for_in_that_order(two_arm) -> None:
    run = open_run(two_arm)
    frame = run.table("trials", ["latency_s", "case_id", "tags", "case_id"])
    assert list(frame.columns) == ["latency_s", "case_id", "tags"]
    pd.testing.assert_series_equal(frame["latency_s"], run.trials["latency_s"])
    assert frame["tags"].map(list).tolist() == run.trials["tags"].map(list).tolist()
    assert list(run.table("spans").columns) == list(run.spans.columns)
    cats = run.table("scores", ["scorer", "value"], categorical=["scorer"])
    assert list(cats["scorer"].cat.categories) == ["exact", "fmt", "judge"]
    assert "trials" not in run.__dict__ or len(run.trials.columns) == len(TRIAL_COLUMNS) + 1


def test_table_errors_name_the_file_and_the_column(two_arm) -> None:
    run = open_run(two_arm)
    with pytest.raises(RunFolderError, match=r"trials\.parquet: no column 'nope'") as info:
        run.table("trials", ["case_id", "nope"])
    assert info.value.path == two_arm / "trials.parquet"
    assert "case_id" in str(info.value)  # lists what the file has
    with pytest.raises(RunFolderError, match=r"scores\.parquet: no column 'x', 'y'"):
        run.table("scores", ["x", "y"])
    with pytest.raises(RunFolderError, match=r"scores\.parquet: no column 'nope'"):
        run.table("scores", ["scorer"], categorical=["nope"])
    with pytest.raises(RunFolderError, match="no table 'trial'"):
        run.table("trial")
    with pytest.raises(RunFolderError, match=r"'latency_s' is double, not a string column"):
        run.table("trials", ["latency_s"], categorical=["latency_s"])
    with pytest.raises(RunFolderError, match="'arm' is not among the columns read"):
        run.table("trials", ["case_id"], categorical=["arm"])


def test_table_reports_an_unreadable_file(two_arm) -> None:
    (two_arm / "scores.parquet").write_bytes(b"not parquet")
    run = open_run(two_arm)
    with pytest.raises(RunFolderError, match=r"cannot read scores\.parquet"):
        run.stats_frames()
