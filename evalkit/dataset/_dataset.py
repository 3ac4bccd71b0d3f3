"""Loading, validating, hashing, diffing and freezing versioned datasets.

A dataset is a folder ``datasets/<name>/`` with ``dataset.yaml`` and ``cases.jsonl``.
Its identity is ``name`` + semver ``version`` + a content hash over the
canonicalised cases, so a suite can pin either and never silently run on data
that changed underneath it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from evalkit.dataset._case import Case
from evalkit.dataset._version import DatasetPin, canonical_json, content_hash, is_semver
from evalkit.errors import DatasetError, DatasetPinError

SPEC_FILE = "dataset.yaml"
CASES_FILE = "cases.jsonl"
LOCK_FILE = "versions.lock.json"
SNAPSHOT_DIR = "snapshots"


class CaseSchema(BaseModel):
    """JSON Schemas that every case's ``input`` and ``expected`` must satisfy."""

    model_config = ConfigDict(extra="forbid")

    input: dict[str, Any] | None = None
    """JSON Schema for ``case.input`` (omit to accept anything)."""
    expected: dict[str, Any] | None = None
    """JSON Schema for ``case.expected`` (omit to accept anything)."""


class DatasetSpec(BaseModel):
    """The contents of ``dataset.yaml``."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    """Dataset name; must match the folder name."""
    version: str
    """Semantic version of the ground truth, bumped when cases change."""
    description: str = ""
    """What the dataset covers and how it was built."""
    tags: list[str] = Field(default_factory=list)
    """Allowed case tags; a case using any other tag is an error. Empty allows none."""
    cluster_field: str | None = "cluster"
    """Case field whose value groups correlated cases (``cluster`` or ``metadata.<key>``)."""
    case_schema: CaseSchema = Field(default_factory=CaseSchema)
    """JSON Schemas for case inputs and expectations."""

    @field_validator("version")
    @classmethod
    def _semver(cls, value: str) -> str:
        if not is_semver(value):
            raise ValueError(f"expected a semantic version like 1.2.0, got {value!r}")
        return value


@dataclass(frozen=True)
class Dataset:
    """A loaded dataset: its spec, its cases and its content hash."""

    spec: DatasetSpec
    cases: tuple[Case, ...]
    hash: str
    path: Path | None = None
    source: str = "files"
    """``files`` when read from cases.jsonl, else the snapshot it came from."""
    _by_id: dict[str, Case] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._by_id.update({c.id: c for c in self.cases})

    @property
    def name(self) -> str:
        """The dataset's name."""
        return self.spec.name

    @property
    def version(self) -> str:
        """The dataset's semantic version."""
        return self.spec.version

    def __len__(self) -> int:
        return len(self.cases)

    def case(self, case_id: str) -> Case:
        """Return the case with this id (KeyError when absent)."""
        return self._by_id[case_id]

    def cluster_of(self, case: Case) -> str | None:
        """The value of the dataset's cluster field for *case*, as a string."""
        fld = self.spec.cluster_field
        if not fld:
            return None
        if fld == "cluster":
            return case.cluster
        if fld.startswith("metadata."):
            value = case.metadata.get(fld.removeprefix("metadata."))
            return None if value is None else str(value)
        raise DatasetError(
            f"cluster_field {fld!r} must be 'cluster' or 'metadata.<key>'",
            path=self.path,
            field="cluster_field",
        )

    def select(
        self, *, ids: Sequence[str] | None = None, tags: Sequence[str] | None = None
    ) -> list[Case]:
        """Cases filtered by id list and/or tags (a case matching any tag is kept).

        Raises:
            DatasetError: an id that is not in the dataset.
        """
        cases: list[Case]
        if ids:
            unknown = [i for i in ids if i not in self._by_id]
            if unknown:
                raise DatasetError(
                    f"unknown case id(s) {', '.join(unknown)}", path=self.path, field="id"
                )
            cases = [self._by_id[i] for i in ids]
        else:
            cases = list(self.cases)
        if tags:
            wanted = set(tags)
            cases = [c for c in cases if wanted.intersection(c.tags)]
        return cases

    def identity(self) -> dict[str, Any]:
        """Name, version, hash and size, as written into run manifests."""
        return {
            "name": self.name,
            "version": self.version,
            "hash": self.hash,
            "n_cases": len(self.cases),
            "source": self.source,
        }


def _case_hash(cases: Iterable[Case]) -> str:
    return content_hash(canonical_json(c.model_dump(mode="json")) for c in cases)


def _format_validation(exc: ValidationError) -> list[tuple[str, str]]:
    out = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
        out.append((loc, msg))
    return out


def _read_spec(folder: Path, problems: list[DatasetError]) -> DatasetSpec | None:
    spec_path = folder / SPEC_FILE
    if not spec_path.is_file():
        problems.append(DatasetError("missing dataset.yaml", path=spec_path))
        return None
    try:
        raw = yaml.safe_load(spec_path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problems.append(
            DatasetError(
                f"invalid YAML: {getattr(exc, 'problem', exc)}",
                path=spec_path,
                line=mark.line + 1 if mark is not None else None,
            )
        )
        return None
    if not isinstance(raw, dict):
        problems.append(DatasetError("expected a mapping at the top level", path=spec_path))
        return None
    try:
        spec = DatasetSpec.model_validate(raw)
    except ValidationError as exc:
        for loc, msg in _format_validation(exc):
            problems.append(DatasetError(msg, path=spec_path, field=loc))
        return None
    if spec.name != folder.name:
        problems.append(
            DatasetError(
                f"name {spec.name!r} does not match the folder name {folder.name!r}",
                path=spec_path,
                field="name",
            )
        )
    return spec


def _schema_validators(
    spec: DatasetSpec, spec_path: Path, problems: list[DatasetError]
) -> dict[str, Any]:
    validators: dict[str, Any] = {}
    schemas = {"input": spec.case_schema.input, "expected": spec.case_schema.expected}
    if not any(schemas.values()):
        return validators
    import jsonschema

    for part, schema in schemas.items():
        if schema is None:
            continue
        try:
            cls = jsonschema.validators.validator_for(schema)
            cls.check_schema(schema)
            validators[part] = cls(schema)
        except jsonschema.SchemaError as exc:
            problems.append(
                DatasetError(
                    f"invalid JSON Schema: {exc.message}",
                    path=spec_path,
                    field=f"case_schema.{part}",
                )
            )
    return validators


def _read_cases(folder: Path, spec: DatasetSpec | None, problems: list[DatasetError]) -> list[Case]:
    cases_path = folder / CASES_FILE
    if not cases_path.is_file():
        problems.append(DatasetError("missing cases.jsonl", path=cases_path))
        return []
    allowed = set(spec.tags) if spec is not None else None
    validators = _schema_validators(spec, folder / SPEC_FILE, problems) if spec else {}
    seen: dict[str, int] = {}
    cases: list[Case] = []
    with cases_path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
            except json.JSONDecodeError as exc:
                problems.append(
                    DatasetError(
                        f"invalid JSON: {exc.msg} (column {exc.colno})",
                        path=cases_path,
                        line=lineno,
                    )
                )
                continue
            if not isinstance(raw, dict):
                problems.append(
                    DatasetError(
                        f"expected a JSON object, got {type(raw).__name__}",
                        path=cases_path,
                        line=lineno,
                    )
                )
                continue
            try:
                case = Case.model_validate(raw)
            except ValidationError as exc:
                for loc, msg in _format_validation(exc):
                    problems.append(DatasetError(msg, path=cases_path, line=lineno, field=loc))
                continue
            if case.id in seen:
                problems.append(
                    DatasetError(
                        f"duplicate id {case.id!r} (first on line {seen[case.id]})",
                        path=cases_path,
                        line=lineno,
                        field="id",
                    )
                )
                continue
            seen[case.id] = lineno
            if allowed is not None:
                for tag in case.tags:
                    if tag not in allowed:
                        problems.append(
                            DatasetError(
                                f"tag {tag!r} is not declared in dataset.yaml tags "
                                f"({', '.join(sorted(allowed)) or 'none declared'})",
                                path=cases_path,
                                line=lineno,
                                field="tags",
                            )
                        )
            for part, validator in validators.items():
                for err in validator.iter_errors(getattr(case, part)):
                    loc = ".".join([part, *(str(p) for p in err.absolute_path)])
                    problems.append(
                        DatasetError(err.message, path=cases_path, line=lineno, field=loc)
                    )
            cases.append(case)
    if not cases and not problems:
        problems.append(DatasetError("no cases", path=cases_path))
    return cases


def validate_dataset(folder: str | Path) -> list[DatasetError]:
    """Return every problem in a dataset folder (empty when it is valid)."""
    folder = Path(folder)
    problems: list[DatasetError] = []
    spec = _read_spec(folder, problems)
    _read_cases(folder, spec, problems)
    return problems


def load_dataset(folder: str | Path) -> Dataset:
    """Load and validate ``folder``; raises one DatasetError listing every problem."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError("dataset folder not found", path=folder)
    problems: list[DatasetError] = []
    spec = _read_spec(folder, problems)
    cases = _read_cases(folder, spec, problems)
    if problems or spec is None:
        raise _aggregate(folder, problems)
    return Dataset(spec=spec, cases=tuple(cases), hash=_case_hash(cases), path=folder)


def _aggregate(folder: Path, problems: list[DatasetError]) -> DatasetError:
    if len(problems) == 1:
        return problems[0]
    first = problems[0]
    lines = "\n".join(f"  - {p}" for p in problems)
    err = DatasetError(
        f"{len(problems)} problems in dataset {folder}:\n{lines}",
        path=first.path,
        line=first.line,
        field=first.field,
    )
    err.args = (f"{len(problems)} problems in dataset {folder}:\n{lines}",)
    return err


# -- diff ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DatasetDiff:
    """Cases added, removed and changed between two versions (by id)."""

    added: tuple[str, ...]
    removed: tuple[str, ...]
    changed: dict[str, tuple[str, ...]]
    """case id -> the top-level fields that differ."""

    @property
    def empty(self) -> bool:
        """True when the two sides hold the same cases."""
        return not (self.added or self.removed or self.changed)

    def summary(self) -> str:
        """One line: ``2 added, 1 removed, 3 changed``, or ``identical``."""
        if self.empty:
            return "identical"
        return f"{len(self.added)} added, {len(self.removed)} removed, {len(self.changed)} changed"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "added": list(self.added),
            "removed": list(self.removed),
            "changed": {k: list(v) for k, v in self.changed.items()},
        }


def diff_cases(old: Iterable[Case], new: Iterable[Case]) -> DatasetDiff:
    """Compare two case collections by id."""
    a = {c.id: c for c in old}
    b = {c.id: c for c in new}
    changed: dict[str, tuple[str, ...]] = {}
    for cid in sorted(a.keys() & b.keys()):
        da, db = a[cid].model_dump(mode="json"), b[cid].model_dump(mode="json")
        fields = tuple(k for k in da if canonical_json(da[k]) != canonical_json(db[k]))
        if fields:
            changed[cid] = fields
    return DatasetDiff(
        added=tuple(sorted(b.keys() - a.keys())),
        removed=tuple(sorted(a.keys() - b.keys())),
        changed=changed,
    )


# -- freeze, lock and pins -----------------------------------------------------------


def read_lock(folder: Path) -> dict[str, dict[str, Any]]:
    """The dataset's lock: version -> {hash, n_cases, snapshot, frozen_at}."""
    path = folder / LOCK_FILE
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DatasetError(
            f"invalid JSON in lock file: {exc.msg}", path=path, line=exc.lineno
        ) from exc
    if not isinstance(data, dict) or not isinstance(data.get("versions"), dict):
        raise DatasetError("expected {'versions': {...}}", path=path)
    return dict(data["versions"])


def freeze_dataset(dataset: Dataset) -> Path:
    """Write a Parquet snapshot of *dataset* and record it in the lock file.

    Refuses to re-freeze a version whose content changed: bump the version instead.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from evalkit.results._atomic import atomic_write_bytes

    if dataset.path is None:
        raise DatasetError("only a dataset loaded from a folder can be frozen")
    folder = dataset.path
    lock = read_lock(folder)
    existing = lock.get(dataset.version)
    if existing and existing["hash"] != dataset.hash:
        raise DatasetPinError(
            f"version {dataset.version} was frozen with different content; bump the version "
            "in dataset.yaml before freezing again",
            path=folder / LOCK_FILE,
            expected=existing["hash"],
            actual=dataset.hash,
        )
    rows = [c.model_dump(mode="json") for c in dataset.cases]
    table = pa.table(
        {
            "id": [r["id"] for r in rows],
            "case_json": [canonical_json(r) for r in rows],
        }
    )
    table = table.replace_schema_metadata(
        {
            "evalkit.dataset": canonical_json(
                {**dataset.identity(), "spec": dataset.spec.model_dump(mode="json")}
            ),
        }
    )
    snap = folder / SNAPSHOT_DIR / f"{dataset.version}.parquet"
    snap.parent.mkdir(parents=True, exist_ok=True)
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    atomic_write_bytes(snap, sink.getvalue().to_pybytes())
    lock[dataset.version] = {
        "hash": dataset.hash,
        "n_cases": len(dataset.cases),
        "snapshot": f"{SNAPSHOT_DIR}/{dataset.version}.parquet",
        "frozen_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    atomic_write_bytes(
        folder / LOCK_FILE,
        (json.dumps({"versions": dict(sorted(lock.items()))}, indent=2) + "\n").encode(),
    )
    return snap


def load_snapshot(folder: Path, version: str) -> Dataset:
    """Load a frozen version from its Parquet snapshot."""
    import pyarrow.parquet as pq

    lock = read_lock(folder)
    entry = lock.get(version)
    if entry is None:
        known = ", ".join(sorted(lock)) or "none"
        raise DatasetError(
            f"version {version} was never frozen (frozen: {known})", path=folder / LOCK_FILE
        )
    path = folder / entry["snapshot"]
    table = pq.read_table(path)
    meta = json.loads((table.schema.metadata or {})[b"evalkit.dataset"])
    spec = DatasetSpec.model_validate(meta["spec"])
    cases = tuple(Case.model_validate_json(s) for s in table.column("case_json").to_pylist())
    ds = Dataset(
        spec=spec,
        cases=cases,
        hash=_case_hash(cases),
        path=folder,
        source=f"snapshot {entry['snapshot']}",
    )
    if ds.hash != entry["hash"]:
        raise DatasetPinError(
            "snapshot content does not match its lock entry",
            path=path,
            expected=entry["hash"],
            actual=ds.hash,
        )
    return ds


def resolve_pin(pin: str | DatasetPin, root: str | Path = "datasets") -> Dataset:
    """Load the dataset a suite pins, refusing content that no longer matches.

    ``name`` loads the working copy. ``name@X.Y.Z`` loads the working copy when its
    version is X.Y.Z and its content matches the frozen hash (if frozen), else the
    frozen snapshot of X.Y.Z. ``name@sha256:…`` loads whichever of working copy or
    snapshots has that hash.

    Raises:
        DatasetPinError: the pinned content is nowhere to be found; the message says
            what changed (cases added, removed, changed) when it can.
    """
    if isinstance(pin, str):
        try:
            pin = DatasetPin.parse(pin)
        except ValueError as exc:
            raise DatasetError(str(exc), field="dataset") from exc
    folder = Path(root) / pin.name
    if not folder.is_dir():
        raise DatasetError(f"dataset {pin.name!r} not found under {root}", path=folder)
    current = load_dataset(folder)
    lock = read_lock(folder)
    if pin.version is not None:
        if current.version == pin.version:
            entry = lock.get(pin.version)
            if entry is None or entry["hash"] == current.hash:
                return current
            frozen = load_snapshot(folder, pin.version)
            change = diff_cases(frozen.cases, current.cases)
            raise DatasetPinError(
                f"{pin} was frozen as {entry['hash'][:19]} but cases.jsonl now hashes to "
                f"{current.hash[:19]} ({change.summary()}: {_first_changes(change)}); "
                "bump the dataset version or restore the cases",
                path=folder / CASES_FILE,
                expected=entry["hash"],
                actual=current.hash,
            )
        if pin.version in lock:
            return load_snapshot(folder, pin.version)
        raise DatasetPinError(
            f"suite pins {pin} but {folder / SPEC_FILE} is version {current.version} "
            f"and {pin.version} was never frozen",
            path=folder / SPEC_FILE,
            expected=pin.version,
            actual=current.version,
        )
    if pin.hash is not None:
        if current.hash.startswith(pin.hash):
            return current
        for version, entry in lock.items():
            if str(entry["hash"]).startswith(pin.hash):
                return load_snapshot(folder, version)
        raise DatasetPinError(
            f"suite pins {pin} but the cases now hash to {current.hash[:19]} and no frozen "
            "snapshot has that hash",
            path=folder / CASES_FILE,
            expected=pin.hash,
            actual=current.hash,
        )
    return current


def _first_changes(change: DatasetDiff, limit: int = 5) -> str:
    parts = [f"+{i}" for i in change.added[:limit]]
    parts += [f"-{i}" for i in change.removed[:limit]]
    parts += [f"~{i}({','.join(f)})" for i, f in list(change.changed.items())[:limit]]
    return " ".join(parts)


def list_datasets(root: str | Path = "datasets") -> list[Mapping[str, Any]]:
    """Name, version, case count and hash of every dataset under *root*."""
    out: list[Mapping[str, Any]] = []
    for folder in sorted(Path(root).iterdir()) if Path(root).is_dir() else []:
        if (folder / SPEC_FILE).is_file():
            try:
                ds = load_dataset(folder)
                out.append(
                    {**ds.identity(), "path": str(folder), "frozen": sorted(read_lock(folder))}
                )
            except DatasetError as exc:
                out.append({"name": folder.name, "path": str(folder), "error": str(exc)})
    return out
