from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from evalkit.errors import RunFolderError
from evalkit.results import (
    SCORE_COLUMNS,
    TRIAL_COLUMNS,
    Journal,
    RunTables,
    atomic_write_text,
    open_run,
    read_journal,
    write_tables,
)
from evalkit.runner import run_suite
from evalkit.suite import load_suite


def test_run_folder_contents(make_suite) -> None:
    result = run_suite(load_suite(make_suite(target="ek_test_targets:with_tools", trials=2)))
    run_dir = result.run_dir
    assert run_dir.parent.name == "t" and run_dir.parent.parent.name == "reports"
    assert {p.name for p in run_dir.iterdir()} >= {
        "manifest.json", "trials.parquet", "scores.parquet", "spans.parquet", "journal.jsonl"}
    manifest = json.loads((run_dir / "manifest.json").read_text())
    for key in ("run_id", "suite_hash", "dataset", "target", "params", "evalkit_version",
                "git", "seed", "trials", "started_at", "finished_at", "duration_s", "status",
                "packages"):
        assert key in manifest, key
    assert manifest["dataset"]["hash"].startswith("sha256:")
    trials = pq.read_table(run_dir / "trials.parquet")
    assert trials.schema.names == ["run_id", *TRIAL_COLUMNS]
    assert trials.num_rows == 12
    scores = pq.read_table(run_dir / "scores.parquet")
    assert scores.schema.names == ["run_id", *SCORE_COLUMNS]
    run = open_run(run_dir)
    assert run.trials.tags.iloc[0].tolist() in (["happy"], ["edge"])
    assert set(run.spans.operation) == {"execute_tool", "chat"}
    assert run.dataset_hash == manifest["dataset"]["hash"]


def test_open_run_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(RunFolderError, match=r"no manifest\.json"):
        open_run(tmp_path)
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(RunFolderError, match="not valid JSON"):
        open_run(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"status": "interrupted"}))
    with pytest.raises(RunFolderError, match="--resume"):
        open_run(tmp_path)


def test_atomic_write_never_leaves_partial_files(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "x.json"
    atomic_write_text(target, "old")

    def boom(*_a, **_k):
        raise OSError("disk full")

    monkeypatch.setattr("os.replace", boom)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_text(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_journal_roundtrip_dedupes_and_flags_corruption(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    j = Journal(path)
    j.write_header({"run_id": "r"})
    row = ("main", "c1", 0, 1, "ok", None, [], "{}", None, None, 0.1, 0.0, 1, 0, 0, 0.0, 0, 0, 0,
           None, None)
    j.append(row, [], [])
    j.append(row, [], [])  # a duplicate must not double-count
    j.close()
    header, tables, bad = read_journal(path)
    assert header["run_id"] == "r" and len(tables.trials) == 1 and bad == 0
    lines = path.read_text().splitlines()
    path.write_text(lines[0] + "\n{garbage\n" + lines[1] + "\n")
    with pytest.raises(RunFolderError, match="line 2 is corrupt"):
        read_journal(path)


def test_empty_tables_still_have_schema(tmp_path: Path) -> None:
    counts = write_tables(tmp_path, "r", RunTables())
    assert counts == {"trials": 0, "scores": 0, "spans": 0}
    assert pq.read_table(tmp_path / "spans.parquet").schema.names[0] == "run_id"


def _trial(case: str, k: int, versions: str | None = None) -> tuple[object, ...]:
    return ("main", case, k, 1, "ok", None, ["happy"], "{}", None, None, 0.1, 0.0, 1, 0, 0,
            0.0, 0, 0, 0, None, versions)


def test_table_writer_streams_sorts_and_counts(tmp_path: Path) -> None:
    from evalkit.results import TableWriter, read_tables

    writer = TableWriter(tmp_path, "r", batch_rows=3)
    keys = [(f"c{c}", k) for c in (3, 1, 2, 0) for k in (1, 0)]
    for case, k in keys:
        versions = json.dumps({"prompt": {"version": "v2"}}) if case == "c1" else None
        score = ("main", case, k, "s", "s", 1.0, True, "ok", "", 1.0, True, None)
        writer.add(_trial(case, k, versions), [score], [])
    # nothing is visible under the final names until finish()
    assert not list(tmp_path.glob("*.parquet"))
    assert writer.finish() == {"trials": 8, "scores": 8, "spans": 0}
    assert writer.status_counts == {"ok": 8}
    assert writer.versions == {"prompt": {"v2": {"trials": 2, "hash": None}}}
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "scores.parquet", "spans.parquet", "trials.parquet"]
    tables = read_tables(tmp_path)
    assert [(t[1], t[2]) for t in tables.trials] == sorted(keys)
    assert len(tables.scores) == 8 and tables.spans == []
    assert pq.read_table(tmp_path / "trials.parquet").column("run_id").to_pylist() == ["r"] * 8


def test_table_writer_abort_leaves_nothing(tmp_path: Path) -> None:
    from evalkit.results import TableWriter

    writer = TableWriter(tmp_path, "r", batch_rows=1)
    writer.add(_trial("c0", 0), [("main", "c0", 0, "s", "s", 1.0, True, "ok", "", 1.0, True,
                                  None)], [])
    writer.abort()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("failing", ["trials", "scores", "spans"])
def test_table_writer_failed_finish_renames_nothing(tmp_path: Path, monkeypatch,
                                                    failing: str) -> None:
    # the score and span tables are finished in a helper thread: a failure on
    # either side still leaves no table under its final name, and abort cleans up
    from evalkit.results import TableWriter

    writer = TableWriter(tmp_path, "r")
    for k in range(3):
        writer.add(_trial("c0", k), [("main", "c0", k, "s", "s", 1.0, True, "ok", "", 1.0, True,
                                      None)], [])
    write = TableWriter._write

    def broken(self, name, table):
        if name == failing:
            raise OSError(f"disk full writing {name}")
        write(self, name, table)

    monkeypatch.setattr(TableWriter, "_write", broken)
    with pytest.raises(OSError, match=f"disk full writing {failing}"):
        writer.finish()
    assert not list(tmp_path.glob("*.parquet"))
    writer.abort()
    assert list(tmp_path.iterdir()) == []


def test_open_run_shares_equal_tag_lists(make_suite) -> None:
    result = run_suite(load_suite(make_suite(trials=3)))
    trials = open_run(result.run_dir).trials
    first = trials[trials.case_id == trials.case_id.iloc[0]].tags.tolist()
    assert all(t is first[0] for t in first) and not first[0].flags.writeable
    # RunResult.tables reads the rows back from the stored tables
    assert len(result.tables.trials) == len(trials)
    assert [r[1] for r in result.tables.trials] == trials.case_id.tolist()


@pytest.mark.parametrize(
    ("values", "arrow_type"),
    [
        ([[], [], None], None),  # all empty: pyarrow infers list<null>
        ([[1, 2], [1, 2], []], None),  # not strings: values kept as they are
        ([["a"], ["a"], ["b", "c"], []], None),
    ],
)
def test_shared_tag_lists_match_the_default_conversion(values, arrow_type) -> None:
    import pyarrow as pa

    from evalkit.results._run import _shared_lists

    column = pa.chunked_array([pa.array(values, type=arrow_type)])
    ref = pa.table({"tags": column}).to_pandas().tags.tolist()
    got = _shared_lists(column)
    got = ref if got is None else list(got)
    assert len(got) == len(ref)
    for a, b in zip(got, ref, strict=True):
        assert (a is None and b is None) or (list(a) == list(b) and a.dtype == b.dtype)


def test_json_encoder_matches_the_json_module() -> None:
    import math

    from evalkit.results._store import json_encoder

    values = [
        {"a": [1, 2.5, -0.0, 1e-05, 10**20, True, None], "é": "ü\n\"x\"\u2028"},
        ("main", "c1", 0, (1, [2]), {"k": {"n": 1.0}}), "plain", 3, [], {},
    ]
    for kw in ({}, {"default": str, "check_circular": False}, {"allow_nan": False}):
        encode = json_encoder(**kw)
        reference = json.JSONEncoder(ensure_ascii=False, **kw).encode
        for value in values:
            assert encode(value) == reference(value)
    assert json_encoder(default=str)({"p": Path("x")}) == '{"p": "x"}'
    strict = json_encoder(allow_nan=False)
    loop: list[object] = []
    loop.append(loop)
    for bad, error in ((loop, "Circular"), ({"x": math.nan}, "Out of range"),
                       ({"x": object()}, "not JSON serializable")):
        box = ["ok", bad]
        with pytest.raises((TypeError, ValueError), match=error):
            strict(box)
        # an error leaves no state behind: encoding the same list again is no cycle
        box.pop()
        assert strict(box) == '["ok"]'
    assert json_encoder(allow_nan=True)(math.nan) == "NaN"
