from __future__ import annotations

import json
from pathlib import Path

import pytest
from ek_fixtures import write_dataset

from evalkit.dataset import (
    diff_cases,
    freeze_dataset,
    load_dataset,
    resolve_pin,
    validate_dataset,
)
from evalkit.errors import DatasetError, DatasetPinError


def test_load_valid_dataset_has_identity(tmp_path: Path) -> None:
    ds = load_dataset(write_dataset(tmp_path))
    assert len(ds) == 6
    assert ds.hash.startswith("sha256:") and len(ds.hash) == 71
    assert ds.cluster_of(ds.case("c1")) == "g1"
    assert ds.identity()["version"] == "1.0.0"


def test_hash_ignores_line_order_but_not_content(tmp_path: Path) -> None:
    folder = write_dataset(tmp_path)
    h1 = load_dataset(folder).hash
    lines = (folder / "cases.jsonl").read_text().splitlines()
    (folder / "cases.jsonl").write_text("\n".join(reversed(lines)) + "\n")
    assert load_dataset(folder).hash == h1
    rows = [json.loads(line) for line in lines]
    rows[2]["expected"]["answer"] = "changed"
    (folder / "cases.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert load_dataset(folder).hash != h1


def _write_lines(folder: Path, lines: list[str]) -> None:
    (folder / "cases.jsonl").write_text("\n".join(lines) + "\n")


def test_validate_reports_every_problem_with_file_line_and_field(tmp_path: Path) -> None:
    folder = write_dataset(tmp_path, n=1)
    good = (folder / "cases.jsonl").read_text().strip()
    _write_lines(folder, [
        good,
        '{"id": "broken", "input": {"q": 1}',                                  # invalid JSON
        '{"input": {"q": "x"}}',                                              # missing id
        '{"id": "u", "input": {"q": "x"}, "colour": "red"}',                  # unknown field
        good,                                                                  # duplicate id
        '{"id": "t", "input": {"q": "x"}, "tags": ["nightly"]}',              # undeclared tag
        '{"id": "w", "input": {"q": "x"}, "tags": "happy"}',                  # wrong type
        '{"id": "s", "input": {"question": "x"}}',                            # schema: no q
        '[1, 2]',                                                              # not an object
    ])
    problems = validate_dataset(folder)
    text = "\n".join(str(p) for p in problems)
    assert len(problems) == 8, text
    by_line = {p.line: p for p in problems}
    assert "invalid JSON" in str(by_line[2]) and "cases.jsonl:2" in str(by_line[2])
    assert by_line[3].field == "id" and "Field required" in by_line[3].message
    assert by_line[4].field == "colour" and "unknown field" in by_line[4].message
    assert "duplicate id" in by_line[5].message and "line 1" in by_line[5].message
    assert "nightly" in by_line[6].message and by_line[6].field == "tags"
    assert by_line[7].field.startswith("tags")
    assert by_line[8].field == "input" and "'q' is a required property" in by_line[8].message
    assert "expected a JSON object" in by_line[9].message
    with pytest.raises(DatasetError, match="8 problems"):
        load_dataset(folder)


def test_spec_errors_name_the_key(tmp_path: Path) -> None:
    folder = write_dataset(tmp_path)
    (folder / "dataset.yaml").write_text("name: mini\nversion: one\nflavour: x\n")
    problems = validate_dataset(folder)
    fields = {p.field for p in problems}
    assert {"version", "flavour"} <= fields
    (folder / "dataset.yaml").write_text("name: [unclosed\n")
    (p,) = validate_dataset(folder)
    assert "invalid YAML" in p.message and p.line is not None


def test_name_must_match_folder(tmp_path: Path) -> None:
    folder = write_dataset(tmp_path)
    (folder / "dataset.yaml").write_text("name: other\nversion: 1.0.0\ntags: [happy, edge]\n")
    (p,) = validate_dataset(folder)
    assert p.field == "name"


def test_pin_by_version_and_hash(tmp_path: Path) -> None:
    write_dataset(tmp_path)
    root = tmp_path / "datasets"
    ds = resolve_pin("mini@1.0.0", root)
    assert resolve_pin(f"mini@{ds.hash[:20]}", root).hash == ds.hash
    with pytest.raises(DatasetPinError, match="never frozen"):
        resolve_pin("mini@2.0.0", root)
    with pytest.raises(DatasetError, match="neither a semver"):
        resolve_pin("mini@latest", root)


def test_changed_content_under_a_frozen_version_is_refused_with_what_changed(
    tmp_path: Path,
) -> None:
    folder = write_dataset(tmp_path)
    root = tmp_path / "datasets"
    snap = freeze_dataset(load_dataset(folder))
    assert snap.is_file()
    lines = (folder / "cases.jsonl").read_text().splitlines()
    rows = [json.loads(x) for x in lines]
    rows[0]["expected"]["answer"] = "edited"
    rows.append({"id": "new1", "input": {"q": "n"}})
    del rows[3]
    (folder / "cases.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(DatasetPinError) as info:
        resolve_pin("mini@1.0.0", root)
    msg = str(info.value)
    assert "1 added, 1 removed, 1 changed" in msg
    assert "~c0(expected)" in msg and "+new1" in msg and "-c3" in msg
    # bumping the version: the old pin now loads the frozen snapshot, unchanged
    (folder / "dataset.yaml").write_text(
        (folder / "dataset.yaml").read_text().replace("1.0.0", "1.1.0"))
    old = resolve_pin("mini@1.0.0", root)
    assert old.source.startswith("snapshot") and old.case("c0").expected["answer"] == "a0"
    assert resolve_pin("mini@1.1.0", root).case("c0").expected["answer"] == "edited"
    # hash pin of the old content still resolves to the snapshot
    assert resolve_pin(f"mini@{old.hash}", root).version == "1.0.0"


def test_refreeze_with_changed_content_is_refused(tmp_path: Path) -> None:
    folder = write_dataset(tmp_path)
    freeze_dataset(load_dataset(folder))
    freeze_dataset(load_dataset(folder))  # idempotent
    with (folder / "cases.jsonl").open("a") as fh:
        fh.write(json.dumps({"id": "x", "input": {"q": "x"}}) + "\n")
    with pytest.raises(DatasetPinError, match="bump the version"):
        freeze_dataset(load_dataset(folder))


def test_diff_by_id(tmp_path: Path) -> None:
    a = load_dataset(write_dataset(tmp_path / "a", n=4))
    b_folder = write_dataset(tmp_path / "b", n=5)
    rows = [json.loads(x) for x in (b_folder / "cases.jsonl").read_text().splitlines()]
    rows[1]["tags"] = ["edge"]
    rows = [r for r in rows if r["id"] != "c0"]
    (b_folder / "cases.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    d = diff_cases(a.cases, load_dataset(b_folder).cases)
    assert d.added == ("c4",) and d.removed == ("c0",) and d.changed == {"c1": ("tags",)}


def test_select_unknown_id_is_an_error(tmp_path: Path) -> None:
    ds = load_dataset(write_dataset(tmp_path))
    assert [c.id for c in ds.select(tags=["edge"])] == ["c0", "c3"]
    with pytest.raises(DatasetError, match="unknown case id"):
        ds.select(ids=["c1", "nope"])
