"""Trajectory matching: the tool calls a trial made against an expected list.

Modes (over ``execute_tool`` spans ordered by start time, or a list in the output):

* ``strict`` — the same calls in the same order, nothing more.
* ``unordered`` — the same calls (as a multiset), in any order.
* ``subset`` — every call made is an expected one (no unexpected tools).
* ``superset`` — every expected call was made (extra calls allowed).
* ``in-order`` — the expected calls appear in this order, others may come between.

An expected item is a tool name (only the name is compared) or ``{tool, args}``;
arguments are compared by ``args``: ``exact``, ``ignore``, ``subset`` (the call's
arguments ⊆ the expected ones) or ``superset`` (⊇), recursively through mappings, after
dropping keys that match an ``ignore_keys`` glob (``*_id``). ``overrides`` sets another
mode per tool, a list of fields that must be equal, or a ``module:callable`` taking
``(actual_args, expected_args)`` and returning a bool.

Partial credit goes to ``details`` beside the boolean: ``lcs_score`` = length of the
longest common subsequence of calls (names and arguments matching) divided by the
longer of the two lists, and name-level precision / recall / F1 over tool names
(multisets). ``score: lcs`` or ``score: f1`` makes one of them the score.
"""

from __future__ import annotations

import fnmatch
import json
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, get_args

from pydantic import Field, model_validator

from evalkit._imports import import_object
from evalkit.errors import ScorerError, TargetImportError
from evalkit.scorer._base import (
    PathNotFound,
    Score,
    Scorer,
    ScorerEnv,
    ScorerSpec,
    TrialView,
    register_scorer,
)
from evalkit.scorer._structured import set_prf
from evalkit.scorer._toolcalls import (
    ToolCall,
    has_args,
    recorded_tool_calls,
    tool_calls_from_value,
)

ArgMode = Literal["exact", "ignore", "subset", "superset"]
ARG_MODES: tuple[str, ...] = get_args(ArgMode)
Matcher = Callable[[Any, Any], str | None]


class TrajectorySpec(ScorerSpec):
    """Options of ``trajectory``."""

    mode: Literal["strict", "unordered", "subset", "superset", "in-order"] = "strict"
    """How the recorded calls must relate to the expected ones."""
    expected: str | None = None
    """Dotted path of the expected list (default ``expected.trajectory``)."""
    value: list[str | dict[str, Any]] | None = None
    """A literal expected list instead of a path."""
    actual: str | None = None
    """Dotted path of a list of calls in the output (default: the trial's tool spans)."""
    args: ArgMode = "exact"
    """How arguments are compared when an expected item gives them."""
    overrides: dict[str, str | list[str]] = Field(default_factory=dict)
    """Per tool: an argument mode, a list of fields that must match, or ``module:callable``."""
    ignore_keys: list[str] = Field(default_factory=list)
    """Argument keys to ignore at any depth, as globs (``*_id``, ``request_id``)."""
    include_errors: bool = True
    """Count calls whose span has status ERROR."""
    score: Literal["match", "lcs", "f1"] = "match"
    """The score: the boolean match, the LCS order score, or name-level F1."""

    @model_validator(mode="after")
    def _reference(self) -> TrajectorySpec:
        if self.value is not None and self.expected is not None:
            raise ValueError("give only one of 'expected' (a path) and 'value' (a list)")
        if self.value is None and self.expected is None:
            self.expected = "expected.trajectory"
        return self


def _short_call(call: ToolCall) -> str:
    if not has_args(call) or call.args is None:
        return call.name
    text = json.dumps(call.args, ensure_ascii=False, sort_keys=True, default=str)
    return f"{call.name}({text if len(text) <= 60 else text[:59] + '…'})"


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 40 else text[:39] + "…"


class ArgumentMatcher:
    """Compares a call's arguments with the expected ones under a mode."""

    def __init__(self, mode: str, ignore: Sequence[str]) -> None:
        self.mode = mode
        self.ignore = list(ignore)

    def strip(self, value: Any) -> Any:
        """Drop ignored keys, recursively."""
        if isinstance(value, Mapping):
            return {k: self.strip(v) for k, v in value.items()
                    if not any(fnmatch.fnmatchcase(str(k), g) for g in self.ignore)}
        if isinstance(value, list):
            return [self.strip(v) for v in value]
        return value

    def __call__(self, actual: Any, expected: Any) -> str | None:
        """None when the arguments match, else the first difference."""
        if self.mode == "ignore":
            return None
        return _compare(self.strip(actual), self.strip(expected), self.mode, "")


def _compare(actual: Any, expected: Any, mode: str, at: str) -> str | None:
    if isinstance(actual, Mapping) and isinstance(expected, Mapping):
        if mode in ("exact", "superset"):
            for key in expected:
                if key not in actual:
                    return f"argument '{at}{key}' is missing"
        if mode in ("exact", "subset"):
            for key in actual:
                if key not in expected:
                    return f"argument '{at}{key}' is not expected"
        for key in expected:
            if key in actual:
                sub = _compare(actual[key], expected[key], mode, f"{at}{key}.")
                if sub is not None:
                    return sub
        return None
    if actual == expected:
        return None
    if not at:
        return f"arguments are {_show(actual)}, expected {_show(expected)}"
    return f"argument '{at[:-1]}' is {_show(actual)}, expected {_show(expected)}"


class FieldsMatcher:
    """Only the listed fields must be equal (absent on both sides counts as equal)."""

    def __init__(self, fields: Sequence[str]) -> None:
        self.fields = list(fields)

    def __call__(self, actual: Any, expected: Any) -> str | None:
        """None when every listed field matches."""
        a = actual if isinstance(actual, Mapping) else {}
        e = expected if isinstance(expected, Mapping) else {}
        for name in self.fields:
            if a.get(name) != e.get(name):
                return f"argument {name!r} is {_show(a.get(name))}, expected {_show(e.get(name))}"
        return None


class CallableMatcher:
    """A user function ``(actual_args, expected_args) -> bool``."""

    def __init__(self, ref: str) -> None:
        try:
            fn = import_object(ref)
        except TargetImportError as exc:
            raise ValueError(f"cannot import argument matcher: {exc}") from None
        if not callable(fn):
            raise ValueError(f"argument matcher {ref!r} is not callable")
        self.ref = ref
        self.fn: Callable[[Any, Any], Any] = fn

    def __call__(self, actual: Any, expected: Any) -> str | None:
        """None when the function accepts the arguments."""
        return None if self.fn(actual, expected) else f"{self.ref} rejected the arguments"


def lcs_length(a: Sequence[Any], b: Sequence[Any], same: Callable[[Any, Any], bool]) -> int:
    """Length of the longest common subsequence under an equality predicate."""
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if same(x, y) else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def max_matching(n_left: int, n_right: int, edge: Callable[[int, int], bool]) -> list[int]:
    """Maximum bipartite matching (Kuhn): ``match[i]`` = right index or -1."""
    adj = [[j for j in range(n_right) if edge(i, j)] for i in range(n_left)]
    right: list[int] = [-1] * n_right

    def augment(i: int, seen: list[bool]) -> bool:
        for j in adj[i]:
            if not seen[j]:
                seen[j] = True
                if right[j] < 0 or augment(right[j], seen):
                    right[j] = i
                    return True
        return False

    for i in range(n_left):
        augment(i, [False] * n_right)
    left = [-1] * n_left
    for j, i in enumerate(right):
        if i >= 0:
            left[i] = j
    return left


@register_scorer("trajectory")
class Trajectory(Scorer):
    """Tool-call trajectory match with argument modes, overrides and partial credit."""

    spec_model = TrajectorySpec
    spec: TrajectorySpec

    def __init__(self, spec: ScorerSpec, env: ScorerEnv | None = None) -> None:
        super().__init__(spec, env)
        self._default: Matcher = ArgumentMatcher(self.spec.args, self.spec.ignore_keys)
        self._per_tool: dict[str, Matcher] = {}
        for tool, how in self.spec.overrides.items():
            if isinstance(how, list):
                self._per_tool[tool] = FieldsMatcher(how)
            elif how in ARG_MODES:
                self._per_tool[tool] = ArgumentMatcher(how, self.spec.ignore_keys)
            elif ":" in how:
                self._per_tool[tool] = CallableMatcher(how)
            else:
                raise ValueError(f"override for {tool!r} must be one of {', '.join(ARG_MODES)}, "
                                 "a list of fields, or 'module:callable'")
        self._literal = (tool_calls_from_value(self.spec.value, "value")
                         if self.spec.value is not None else None)

    def mismatch(self, expected: ToolCall, actual: ToolCall) -> str | None:
        """None when *actual* satisfies *expected*, else why not."""
        if expected.name != actual.name:
            return f"expected {expected.name}, got {actual.name}"
        if not has_args(expected):
            return None
        matcher = self._per_tool.get(expected.name, self._default)
        return matcher(actual.args, expected.args)

    def check(self, view: TrialView) -> Score:
        """Match, then compute partial credit and the first mismatch."""
        if self._literal is not None:
            expected = self._literal
        else:
            assert self.spec.expected is not None
            try:
                raw = view.resolve(self.spec.expected)
            except PathNotFound as exc:
                return Score(0.0, str(exc))
            try:
                expected = tool_calls_from_value(raw, self.spec.expected)
            except ValueError as exc:
                raise ScorerError(f"bad expected trajectory: {exc}", scorer=self.name) from None
        try:
            actual = recorded_tool_calls(view, self.spec.actual)
        except PathNotFound as exc:
            return Score(0.0, str(exc))
        except ValueError as exc:
            return Score(0.0, str(exc))
        if not self.spec.include_errors:
            actual = [c for c in actual if c.ok]
        reason = self._first_mismatch(expected, actual)
        ok = reason is None
        lcs = lcs_length(expected, actual, lambda e, a: self.mismatch(e, a) is None)
        longest = max(len(expected), len(actual))
        lcs_score = lcs / longest if longest else 1.0
        names_e, names_a = Counter(c.name for c in expected), Counter(c.name for c in actual)
        tp = sum((names_e & names_a).values())
        precision, recall, f1 = set_prf(tp, len(actual), len(expected))
        details = {
            "match": ok, "mode": self.spec.mode, "args": self.spec.args,
            "lcs": lcs, "lcs_score": lcs_score,
            "name_precision": precision, "name_recall": recall, "name_f1": f1,
            "expected": [c.name for c in expected][:50], "actual": [c.name for c in actual][:50],
        }
        value = {"match": 1.0 if ok else 0.0, "lcs": lcs_score, "f1": f1}[self.spec.score]
        if ok:
            text = (f"{len(actual)} tool calls match the expected trajectory ({self.spec.mode})"
                    if actual or expected else "no tool calls, as expected")
        else:
            text = f"{self.spec.mode}: {reason}"
        return Score(value, f"{text}; lcs {lcs_score:.2f}, name F1 {f1:.2f}", details)

    def _first_mismatch(self, expected: list[ToolCall], actual: list[ToolCall]) -> str | None:
        mode = self.spec.mode
        if not actual and expected and mode != "subset":
            names = ", ".join(c.name for c in expected[:5])
            return f"no tool calls recorded (expected {len(expected)}: {names})"
        if mode == "strict":
            for i in range(max(len(expected), len(actual))):
                if i >= len(actual):
                    return (f"call {i + 1}: expected {_short_call(expected[i])}, but only "
                            f"{len(actual)} calls were made")
                if i >= len(expected):
                    return (f"call {i + 1}: unexpected {_short_call(actual[i])} (expected "
                            f"only {len(expected)} calls)")
                why = self.mismatch(expected[i], actual[i])
                if why is not None:
                    return f"call {i + 1} ({expected[i].name}): {why}"
            return None
        if mode == "in-order":
            j = 0
            for i, e in enumerate(expected):
                while j < len(actual) and self.mismatch(e, actual[j]) is not None:
                    j += 1
                if j == len(actual):
                    return (f"expected call {i + 1} {_short_call(e)} not found in order"
                            f"{self._closest(e, actual)}")
                j += 1
            return None
        match = max_matching(len(expected), len(actual),
                             lambda i, j: self.mismatch(expected[i], actual[j]) is None)
        if mode in ("unordered", "superset"):
            for i, j in enumerate(match):
                if j < 0:
                    return (f"expected call {i + 1} {_short_call(expected[i])} was not made"
                            f"{self._closest(expected[i], actual)}")
        if mode in ("unordered", "subset"):
            used = set(match)
            for j, call in enumerate(actual):
                if j not in used:
                    return f"call {j + 1} {_short_call(call)} is not in the expected trajectory"
        return None

    def _closest(self, expected: ToolCall, actual: list[ToolCall]) -> str:
        same = [(j, c) for j, c in enumerate(actual) if c.name == expected.name]
        for j, call in same:
            why = self.mismatch(expected, call)
            if why is not None:
                return f" (closest: call {j + 1}, {why})"
        if same:
            return f" (every {expected.name} call already matches another expected call)"
        return ""
