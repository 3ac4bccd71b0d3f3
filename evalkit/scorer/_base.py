"""The scorer protocol, its common options, the registry, and dotted-path lookup.

Every scorer turns one finished trial (a :class:`TrialView`) into a raw score in
[0, 1] and a reason. The common options are applied the same way for all of them:
``negate`` flips the score, ``passed = score >= threshold`` (a judge's own pass field
is never trusted), ``weight`` and ``metric`` name how it aggregates, and
``completion`` says whether it is part of the task-completion definition.
"""

from __future__ import annotations

import inspect
import math
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from evalkit.dataset import Case
from evalkit.errors import ConfigError, JudgeError, ScorerError


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "<missing>"


MISSING: Any = _Missing()


class PathNotFound(LookupError):
    """A dotted path does not exist in the trial (a failed check, not a crash)."""

    def __init__(self, path: str, at: str) -> None:
        self.path = path
        self.at = at
        super().__init__(f"{path} is missing (no {at!r})")


@dataclass(frozen=True, slots=True)
class TrialView:
    """What a scorer sees of one finished trial."""

    case: Case
    output: Any
    trial: int = 0
    seed: int = 0
    status: str = "ok"
    latency_s: float = 0.0
    spans: Sequence[Mapping[str, Any]] = ()
    usage: Mapping[str, float] = field(default_factory=dict)
    """``input_tokens``, ``output_tokens``, ``cost_usd``, ``llm_calls``, ``tool_calls``,
    ``tool_errors``."""
    arm: str = "main"

    def resolve(self, path: str) -> Any:
        """Look up a dotted path: ``output.answer``, ``expected.facts.0``, ``input.question``.

        Roots: ``output``, ``expected``, ``input``, ``metadata``, ``case`` (id, tags,
        cluster), ``usage`` and ``trial`` (``trial.latency_s``, ``trial.index``).

        Raises:
            PathNotFound: some segment does not exist.
        """
        parsed = _PATHS.get(path)
        if parsed is None:
            parsed = _parse_path(path)
        root, parts = parsed
        value: Any
        if root == "output":
            value = self.output
        elif root == "expected":
            value = self.case.expected
        elif root == "input":
            value = self.case.input
        elif root == "metadata":
            value = self.case.metadata
        elif root == "case":
            value = {"id": self.case.id, "tags": list(self.case.tags), "cluster": self.case.cluster}
        elif root == "usage":
            value = dict(self.usage)
        elif root == "trial":
            value = {
                "index": self.trial,
                "seed": self.seed,
                "latency_s": self.latency_s,
                "status": self.status,
            }
        else:
            raise PathNotFound(path, root)
        return _walk(value, parts, path) if parts else value


# dotted path -> (root, the remaining parts): scorers resolve the same few paths on
# every trial, so each is split once (bounded, in case paths are built per trial)
_PATHS: dict[str, tuple[str, tuple[str, ...]]] = {}
_MAX_PATHS = 4096


def _parse_path(path: str) -> tuple[str, tuple[str, ...]]:
    root, _, rest = path.partition(".")
    parsed = (root, tuple(rest.split(".")) if rest else ())
    if len(_PATHS) < _MAX_PATHS:
        _PATHS[path] = parsed
    return parsed


def walk(value: Any, rest: str, full: str) -> Any:
    """Follow ``a.b.0`` through mappings, sequences and attributes."""
    return _walk(value, rest.split("."), full)


def _walk(value: Any, parts: Sequence[str], full: str) -> Any:
    for part in parts:
        if type(value) is dict:  # the common case, without the Mapping ABC check
            if part not in value:
                raise PathNotFound(full, part)
            value = value[part]
        elif isinstance(value, Mapping):
            if part not in value:
                raise PathNotFound(full, part)
            value = value[part]
        elif isinstance(value, list | tuple) and (part.isdigit() or part.startswith("-")):
            try:
                value = value[int(part)]
            except (IndexError, ValueError):
                raise PathNotFound(full, part) from None
        elif hasattr(value, part) and not part.startswith("_"):
            value = getattr(value, part)
        else:
            raise PathNotFound(full, part)
    return value


@dataclass(frozen=True, slots=True)
class Score:
    """A scorer's raw verdict on one trial, before the common options are applied."""

    value: float
    reason: str
    details: Mapping[str, Any] | None = None
    passed: bool | None = None
    """Only for scorers whose pass is not a threshold on value (rare); else None."""


@dataclass(frozen=True, slots=True)
class ScoreRow:
    """A scorer's final result for one trial, as stored in ``scores.parquet``."""

    scorer: str
    metric: str
    value: float
    passed: bool | None
    status: str
    """``ok``, ``scorer_error`` or ``judge_error``."""
    reason: str
    weight: float
    completion: bool
    details: Mapping[str, Any] | None = None


class ScorerSpec(BaseModel):
    """Options every scorer accepts in a suite's ``scorers:`` list."""

    model_config = ConfigDict(extra="forbid")

    type: str
    """The check or judge to run, e.g. ``equals``, ``regex``, ``llm-rubric``."""
    name: str | None = None
    """Unique name within the suite (default: the type, suffixed when repeated)."""
    metric: str | None = None
    """Metric the score aggregates into (default: the name)."""
    weight: float = Field(default=1.0, ge=0)
    """Weight in a weighted mean of scores."""
    threshold: float | None = Field(default=None, ge=0, le=1)
    """Pass when score ≥ threshold (default: the scorer's own, 1.0 for most checks)."""
    negate: bool = False
    """Invert the check: score becomes 1 − score (promptfoo's ``not-``)."""
    completion: bool = True
    """Whether this scorer is part of task completion (all such must pass)."""


@dataclass
class ScorerEnv:
    """What scorers may need beyond the trial: the judge model and its cache."""

    judge_model: str | None = None
    """Model spec of the judge (never defaults to the model under test)."""
    model_under_test: str | None = None
    cache_dir: str | None = None
    cache_mode: str = "off"
    extra: dict[str, Any] = field(default_factory=dict)


class Scorer(ABC):
    """Base class: subclasses set ``spec_model`` and implement :meth:`check`."""

    spec_model: ClassVar[type[ScorerSpec]] = ScorerSpec
    default_threshold: ClassVar[float] = 1.0
    is_judge: ClassVar[bool] = False

    def __init__(self, spec: ScorerSpec, env: ScorerEnv | None = None) -> None:
        self.spec = spec
        self.env = env or ScorerEnv()
        self.name = spec.name or spec.type
        self.metric = spec.metric or self.name
        self.threshold = spec.threshold if spec.threshold is not None else self.default_threshold

    @abstractmethod
    def check(self, view: TrialView) -> Score | Awaitable[Score]:
        """Score one trial. May be ``async``."""

    def finish(self, raw: Score) -> ScoreRow:
        """Apply negate and threshold to a raw score."""
        return ScoreRow(*self._finish_fields(raw))

    def _finish_fields(self, raw: Score) -> tuple[Any, ...]:
        """What :meth:`finish` returns, as a tuple in ``ScoreRow`` field order.

        The runner stores score rows as tuples; this skips building a ``ScoreRow``
        per trial when a subclass does not override :meth:`finish`.
        """
        value = float(raw.value)
        if not 0.0 <= value <= 1.0:  # also false for NaN
            raise ScorerError(f"score {raw.value!r} outside [0, 1]", scorer=self.name)
        spec = self.spec
        reason = raw.reason
        passed = raw.passed
        if spec.negate:
            value = 1.0 - value
            reason = f"not: {reason}"
            passed = None
        if passed is None:
            passed = value >= self.threshold
        return (
            self.name,
            self.metric,
            value,
            passed,
            "ok",
            reason,
            spec.weight,
            spec.completion,
            raw.details,
        )

    def error_row(self, exc: BaseException) -> ScoreRow:
        """The row recorded when this scorer (or its judge) fails."""
        status = "judge_error" if isinstance(exc, JudgeError) else "scorer_error"
        return ScoreRow(
            self.name,
            self.metric,
            math.nan,
            None,
            status,
            f"{type(exc).__name__}: {exc}",
            self.spec.weight,
            self.spec.completion,
            None,
        )

    async def score(self, view: TrialView) -> ScoreRow:
        """Run :meth:`check`; a crash becomes a ``scorer_error`` row, never a fail."""
        try:
            raw = self.check(view)
            if inspect.isawaitable(raw):
                raw = await raw
            return self.finish(raw)
        except Exception as exc:
            return self.error_row(exc)

    def score_sync(self, view: TrialView) -> ScoreRow | None:
        """Fast path for synchronous checks; None when the check is async."""
        try:
            raw = self.check(view)
            if inspect.isawaitable(raw):
                if inspect.iscoroutine(raw):
                    raw.close()
                return None
            return self.finish(raw)
        except Exception as exc:
            return self.error_row(exc)


_REGISTRY: dict[str, type[Scorer]] = {}
_ENTRY_POINTS_LOADED = False


def register_scorer(type_name: str) -> Callable[[type[Scorer]], type[Scorer]]:
    """Class decorator registering a scorer under *type_name*."""

    def deco(cls: type[Scorer]) -> type[Scorer]:
        _REGISTRY[type_name] = cls
        return cls

    return deco


def _load_entry_points() -> None:
    global _ENTRY_POINTS_LOADED
    if _ENTRY_POINTS_LOADED:
        return
    _ENTRY_POINTS_LOADED = True
    from importlib.metadata import entry_points

    for ep in entry_points(group="evalkit.scorers"):
        obj = ep.load()
        if isinstance(obj, type) and issubclass(obj, Scorer):
            _REGISTRY.setdefault(ep.name, obj)


def scorer_types() -> list[str]:
    """Every registered scorer type, built-in and from entry points."""
    _ensure_builtins()
    _load_entry_points()
    return sorted(_REGISTRY)


def _ensure_builtins() -> None:
    import evalkit.scorer._checks  # noqa: F401  (registers built-in checks)
    from evalkit.scorer import _builtins  # noqa: F401  (text, structured, trajectory, judge)


def get_scorer_class(type_name: str) -> type[Scorer]:
    """The class registered for *type_name* (entry points included)."""
    _ensure_builtins()
    if type_name not in _REGISTRY:
        _load_entry_points()
    try:
        return _REGISTRY[type_name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise ConfigError(f"unknown scorer type {type_name!r}; known: {known}") from None


def build_scorers(
    specs: Iterable[Mapping[str, Any]],
    *,
    env: ScorerEnv | None = None,
    path: str | None = None,
    key: str = "scorers",
) -> list[Scorer]:
    """Validate scorer specs from a suite and instantiate them.

    Raises:
        ConfigError: naming the key path (``scorers[2].pattern``) and what was expected.
    """
    scorers: list[Scorer] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(specs):
        where = f"{key}[{i}]"
        if not isinstance(raw, Mapping) or "type" not in raw:
            raise ConfigError("expected a mapping with a 'type' key", path=path, key=where)
        try:
            cls = get_scorer_class(str(raw["type"]))
        except ConfigError as exc:
            raise ConfigError(exc.message, path=path, key=f"{where}.type") from None
        try:
            spec = cls.spec_model.model_validate(dict(raw))
        except ValidationError as exc:
            problems = []
            for err in exc.errors():
                loc = ".".join(str(p) for p in err["loc"])
                msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
                problems.append((f"{where}.{loc}" if loc else where, msg))
            first_key, msg = problems[0]
            if len(problems) > 1:
                msg += " (and " + "; ".join(f"{k}: {m}" for k, m in problems[1:]) + ")"
            raise ConfigError(msg, path=path, key=first_key) from None
        try:
            scorer = cls(spec, env)
        except (ValueError, TypeError, ImportError) as exc:
            raise ConfigError(str(exc), path=path, key=where) from None
        if scorer.name in seen:
            if spec.name is not None:
                raise ConfigError(
                    f"duplicate scorer name {scorer.name!r} (also {key}[{seen[scorer.name]}])",
                    path=path,
                    key=f"{where}.name",
                )
            n = 2
            while f"{scorer.name}_{n}" in seen:
                n += 1
            scorer.name = f"{scorer.name}_{n}"
            scorer.metric = spec.metric or scorer.name
        seen[scorer.name] = i
        scorers.append(scorer)
    return scorers
