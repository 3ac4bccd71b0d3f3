"""Core deterministic checks: equals, contains, regex, and custom python functions.

Each check addresses data with dotted paths (``output.answer``, ``expected.answer``).
A missing path is a failed check with a reason naming the path, never a crash.
"""

from __future__ import annotations

import inspect
import re
from abc import abstractmethod
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import Field, model_validator

from evalkit._imports import import_object
from evalkit.scorer._base import (
    MISSING,
    PathNotFound,
    Score,
    Scorer,
    ScorerEnv,
    ScorerSpec,
    TrialView,
    register_scorer,
)


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class CompareSpec(ScorerSpec):
    """A check comparing ``actual`` with an expected ``value`` or ``expected`` path."""

    actual: str = "output"
    """Dotted path of the value under test."""
    expected: str | None = None
    """Dotted path of the reference value (e.g. ``expected.answer``)."""
    value: Any = MISSING
    """A literal reference value (instead of ``expected``)."""

    @model_validator(mode="after")
    def _one_reference(self) -> CompareSpec:
        if self.expected is None and self.value is MISSING:
            raise ValueError("give either 'expected' (a dotted path) or 'value' (a literal)")
        if self.expected is not None and self.value is not MISSING:
            raise ValueError("give only one of 'expected' and 'value'")
        return self


class TextCompareSpec(CompareSpec):
    """Text comparison options."""

    case_sensitive: bool = True
    """Compare case-sensitively (false folds case with str.casefold)."""
    strip: bool = True
    """Strip surrounding whitespace before comparing."""


class ComparingScorer(Scorer):
    """Shared plumbing: resolve actual and reference, turn missing paths into fails."""

    spec: CompareSpec

    def reference(self, view: TrialView) -> Any:
        """The reference value (literal or resolved path)."""
        if self.spec.expected is not None:
            return view.resolve(self.spec.expected)
        return self.spec.value

    def check(self, view: TrialView) -> Score:
        """Resolve both sides and compare."""
        try:
            actual = view.resolve(self.spec.actual)
            ref = self.reference(view)
        except PathNotFound as exc:
            return Score(0.0, str(exc))
        return self.compare(actual, ref)

    @abstractmethod
    def compare(self, actual: Any, ref: Any) -> Score:
        """Compare resolved values; subclasses implement."""


def _norm(text: Any, spec: TextCompareSpec) -> str:
    s = text if isinstance(text, str) else str(text)
    if spec.strip:
        s = s.strip()
    if not spec.case_sensitive:
        s = s.casefold()
    return s


@register_scorer("equals")
class Equals(ComparingScorer):
    """``actual == reference``; strings honour ``case_sensitive`` and ``strip``."""

    spec_model = TextCompareSpec
    spec: TextCompareSpec

    def compare(self, actual: Any, ref: Any) -> Score:
        """Equal values score 1."""
        spec = self.spec
        if isinstance(actual, str) and isinstance(ref, str):
            a, b = actual, ref  # _norm, inlined: this runs on every trial
            if spec.strip:
                a, b = a.strip(), b.strip()
            if not spec.case_sensitive:
                a, b = a.casefold(), b.casefold()
            ok = a == b
        else:
            ok = actual == ref
        if ok:
            return Score(1.0, f"{spec.actual} equals {_short(ref)}")
        return Score(0.0, f"{spec.actual} is {_short(actual)}, expected {_short(ref)}")


@register_scorer("contains")
class Contains(ComparingScorer):
    """The reference text (or list item) occurs in ``actual``."""

    spec_model = TextCompareSpec
    spec: TextCompareSpec

    def compare(self, actual: Any, ref: Any) -> Score:
        """Substring for text, membership for lists."""
        if isinstance(actual, list | tuple | set):
            ok = ref in actual
        else:
            ok = _norm(ref, self.spec) in _norm(actual, self.spec)
        if ok:
            return Score(1.0, f"{self.spec.actual} contains {_short(ref)}")
        return Score(0.0, f"{self.spec.actual} does not contain {_short(ref)}")


class RegexSpec(ScorerSpec):
    """Options of the ``regex`` check."""

    actual: str = "output"
    """Dotted path of the text under test."""
    pattern: str
    """Python regular expression, searched (not anchored) in the text."""
    flags: list[str] = Field(default_factory=list)
    """Any of IGNORECASE, MULTILINE, DOTALL."""
    fullmatch: bool = False
    """Require the whole text to match."""


@register_scorer("regex")
class Regex(Scorer):
    """The text matches a regular expression."""

    spec_model = RegexSpec
    spec: RegexSpec

    def __init__(self, spec: ScorerSpec, env: ScorerEnv | None = None) -> None:
        super().__init__(spec, env)
        flags = 0
        for name in self.spec.flags:
            flag = getattr(re, name.upper(), None)
            if not isinstance(flag, re.RegexFlag):
                raise ValueError(f"unknown regex flag {name!r}; use IGNORECASE, MULTILINE, DOTALL")
            flags |= flag
        try:
            self._re = re.compile(self.spec.pattern, flags)
        except re.error as exc:
            raise ValueError(f"invalid regular expression {self.spec.pattern!r}: {exc}") from None

    def check(self, view: TrialView) -> Score:
        """Search (or fullmatch) the pattern."""
        try:
            actual = view.resolve(self.spec.actual)
        except PathNotFound as exc:
            return Score(0.0, str(exc))
        text = actual if isinstance(actual, str) else str(actual)
        m = self._re.fullmatch(text) if self.spec.fullmatch else self._re.search(text)
        if m:
            return Score(1.0, f"{self.spec.actual} matches /{self.spec.pattern}/ at {m.start()}")
        return Score(0.0, f"{self.spec.actual} does not match /{self.spec.pattern}/")


class PythonSpec(ScorerSpec):
    """Options of the ``python`` scorer."""

    function: str
    """``module:function`` taking ``(view)`` or ``(output, case)``; may be async."""
    args: dict[str, Any] = Field(default_factory=dict)
    """Extra keyword arguments passed to the function."""


@register_scorer("python")
class PythonScorer(Scorer):
    """A custom function returning a bool, a number in [0, 1], a Score or a mapping.

    A mapping may carry ``score``/``value``, ``reason`` and ``passed``.
    """

    spec_model = PythonSpec
    spec: PythonSpec
    default_threshold = 0.5

    def __init__(self, spec: ScorerSpec, env: ScorerEnv | None = None) -> None:
        super().__init__(spec, env)
        fn = import_object(self.spec.function)
        if not callable(fn):
            raise ValueError(f"{self.spec.function!r} is not callable")
        self._fn: Callable[..., Any] = fn
        params = list(inspect.signature(fn).parameters)
        self._takes_view = len(params) >= 1 and params[0] in {"view", "trial"}

    def check(self, view: TrialView) -> Score | Awaitable[Score]:
        """Call the function and normalise what it returns."""
        if self._takes_view:
            result = self._fn(view, **self.spec.args)
        else:
            result = self._fn(view.output, view.case, **self.spec.args)
        if inspect.isawaitable(result):
            return self._await(result)
        return self._normalise(result)

    async def _await(self, pending: Awaitable[Any]) -> Score:
        return self._normalise(await pending)

    def _normalise(self, result: Any) -> Score:
        name = self.spec.function
        if isinstance(result, Score):
            return result
        if isinstance(result, bool):
            return Score(float(result), f"{name} returned {result}")
        if isinstance(result, int | float):
            return Score(float(result), f"{name} returned {result:g}")
        if isinstance(result, dict):
            value = result.get("score", result.get("value"))
            if not isinstance(value, int | float):
                raise TypeError(f"{name} returned a mapping without a numeric 'score'")
            passed = result.get("passed")
            return Score(float(value), str(result.get("reason", f"{name} scored {value:g}")),
                         details=result.get("details"),
                         passed=bool(passed) if passed is not None else None)
        raise TypeError(
            f"{name} returned {type(result).__name__}; expected bool, number, Score or mapping"
        )
