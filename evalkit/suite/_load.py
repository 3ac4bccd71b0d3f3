"""Load a suite file, apply command-line overrides, and resolve what it references."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from evalkit.dataset import Dataset, canonical_json, resolve_pin
from evalkit.errors import ConfigError, DatasetError
from evalkit.suite._spec import SuiteSpec


@dataclass(frozen=True)
class Suite:
    """A validated suite, where it came from, and its content hash."""

    spec: SuiteSpec
    path: Path | None
    hash: str

    @property
    def name(self) -> str:
        """The suite's name."""
        return self.spec.name

    def datasets_root(self) -> Path:
        """``<suite dir>/../datasets`` when it exists, else ``./datasets``."""
        if self.path is not None:
            beside = self.path.resolve().parent.parent / "datasets"
            if beside.is_dir():
                return beside
        return Path("datasets")

    def load_dataset(self) -> Dataset:
        """Resolve the suite's dataset pin (refusing content that changed under it)."""
        try:
            return resolve_pin(self.spec.dataset, self.datasets_root())
        except DatasetError as exc:
            if exc.field == "dataset":
                raise ConfigError(str(exc), path=self.path, key="dataset") from None
            raise

    def gate_spec(self) -> Any:
        """The suite's ``gate:`` parsed by :mod:`evalkit.gate`."""
        from evalkit.gate import GateSpec

        try:
            return GateSpec.model_validate(self.spec.gate)
        except ValidationError as exc:
            raise _config_error(exc, self.path, prefix="gate") from None


def _config_error(exc: ValidationError, path: Path | None, prefix: str = "") -> ConfigError:
    problems = []
    for err in exc.errors():
        loc = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in err["loc"])
        loc = loc.replace(".[", "[")
        if prefix:
            loc = f"{prefix}.{loc}" if loc else prefix
        msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        if err["type"] == "missing":
            msg = "required key is missing"
        problems.append((loc, msg))
    first_loc, first_msg = problems[0]
    if len(problems) > 1:
        rest = "; ".join(f"{loc}: {msg}" for loc, msg in problems[1:])
        first_msg = f"{first_msg} (and {len(problems) - 1} more: {rest})"
    return ConfigError(first_msg, path=path, key=first_loc)


def parse_override(text: str) -> tuple[str, Any]:
    """Parse ``key=value`` (value read as YAML: numbers, booleans, lists) for ``--param``."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"expected key=value, got {text!r}", key="--param")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key.strip(), value


def _set_dotted(target: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = target
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[parts[-1]] = value


def suite_hash(spec: SuiteSpec) -> str:
    """sha256 over the canonical JSON of the validated suite."""
    return (
        "sha256:"
        + hashlib.sha256(canonical_json(spec.model_dump(mode="json")).encode()).hexdigest()
    )


def load_suite(
    path: str | Path,
    *,
    overrides: Mapping[str, Any] | None = None,
    params: Iterable[tuple[str, Any]] = (),
) -> Suite:
    """Read and validate a suite file.

    Args:
        path: the YAML file.
        overrides: top-level keys to replace (``trials``, ``seed``, ``model``…); None values
            are ignored.
        params: ``(dotted.key, value)`` pairs merged into ``params``.

    Raises:
        ConfigError: naming the file and the key path of the first problem.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError("suite file not found", path=path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(
            f"invalid YAML{where}: {getattr(exc, 'problem', exc)}", path=path
        ) from None
    if not isinstance(raw, dict):
        raise ConfigError("expected a mapping at the top level", path=path)
    return suite_from_dict(raw, path=path, overrides=overrides, params=params)


def suite_from_dict(
    raw: Mapping[str, Any],
    *,
    path: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    params: Iterable[tuple[str, Any]] = (),
) -> Suite:
    """Validate a suite given as a mapping (see :func:`load_suite`)."""
    data = dict(raw)
    for key, value in (overrides or {}).items():
        if value is not None:
            data[key] = value
    merged = dict(data.get("params") or {})
    for key, value in params:
        _set_dotted(merged, key, value)
    if merged or "params" in data:
        data["params"] = merged
    try:
        spec = SuiteSpec.model_validate(data)
    except ValidationError as exc:
        raise _config_error(exc, path) from None
    suite = Suite(spec=spec, path=path, hash=suite_hash(spec))
    from evalkit.scorer import ScorerEnv, build_scorers

    build_scorers(
        spec.scorers, env=ScorerEnv(judge_model=spec.judge_model), path=str(path) if path else None
    )
    if spec.gate:
        suite.gate_spec()
    return suite
