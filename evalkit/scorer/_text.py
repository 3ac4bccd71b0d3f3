"""Text checks: contains-any / contains-all, starts-with, similarity, length, refusal.

Like the core checks, each addresses data with dotted paths and turns a missing path,
an empty output or a value of the wrong kind into a failed check with a reason.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import Field, model_validator

from evalkit.scorer._base import (
    PathNotFound,
    Score,
    Scorer,
    ScorerEnv,
    ScorerSpec,
    TrialView,
    register_scorer,
)
from evalkit.scorer._checks import ComparingScorer, TextCompareSpec, _short


def as_text(value: Any) -> str:
    """A value as text: strings as they are, None as ``""``, the rest as JSON."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return str(value)


def _fold(text: str, case_sensitive: bool, strip: bool) -> str:
    text = unicodedata.normalize("NFC", text)
    if strip:
        text = text.strip()
    return text if case_sensitive else text.casefold()


class ContainsManySpec(TextCompareSpec):
    """Options of ``contains-any`` and ``contains-all``: a list of needles."""

    @model_validator(mode="after")
    def _needles(self) -> ContainsManySpec:
        if self.expected is None:
            if isinstance(self.value, str):
                self.value = [self.value]
            if not isinstance(self.value, list) or not self.value:
                raise ValueError("'value' must be a non-empty list of strings")
        return self


class _ContainsMany(ComparingScorer):
    spec_model = ContainsManySpec
    spec: ContainsManySpec

    def needles(self, ref: Any) -> list[Any] | None:
        if isinstance(ref, str):
            return [ref]
        if isinstance(ref, list | tuple) and ref:
            return list(ref)
        return None

    def found(self, actual: Any, ref: Any) -> tuple[list[Any], list[Any]] | Score:
        needles = self.needles(ref)
        if needles is None:
            return Score(0.0, f"reference {_short(ref)} is not a non-empty list of strings")
        if isinstance(actual, list | tuple | set):
            hay = [_fold(as_text(a), self.spec.case_sensitive, self.spec.strip) for a in actual]
            hit = [n for n in needles
                   if _fold(as_text(n), self.spec.case_sensitive, self.spec.strip) in hay]
        else:
            text = _fold(as_text(actual), self.spec.case_sensitive, self.spec.strip)
            if not text:
                return Score(0.0, f"{self.spec.actual} is empty")
            hit = [n for n in needles
                   if _fold(as_text(n), self.spec.case_sensitive, self.spec.strip) in text]
        return hit, [n for n in needles if n not in hit]


@register_scorer("contains-any")
class ContainsAny(_ContainsMany):
    """At least one of the needles occurs in ``actual`` (substring, or list membership)."""

    def compare(self, actual: Any, ref: Any) -> Score:
        """1 when any needle is found."""
        result = self.found(actual, ref)
        if isinstance(result, Score):
            return result
        hit, missing = result
        if hit:
            return Score(1.0, f"{self.spec.actual} contains {_short(hit[0])}")
        return Score(0.0, f"{self.spec.actual} contains none of "
                          f"{', '.join(_short(m, 40) for m in missing)}")


@register_scorer("contains-all")
class ContainsAll(_ContainsMany):
    """Every needle occurs in ``actual``; the score is the fraction found."""

    def compare(self, actual: Any, ref: Any) -> Score:
        """Fraction of needles found (passes at 1.0 by default)."""
        result = self.found(actual, ref)
        if isinstance(result, Score):
            return result
        hit, missing = result
        total = len(hit) + len(missing)
        details = {"found": len(hit), "total": total}
        if not missing:
            return Score(1.0, f"{self.spec.actual} contains all {total}", details)
        return Score(len(hit) / total,
                     f"{self.spec.actual} lacks {len(missing)} of {total}: "
                     f"{', '.join(_short(m, 40) for m in missing[:5])}", details)


@register_scorer("starts-with")
class StartsWith(ComparingScorer):
    """``actual`` (text) starts with the reference prefix."""

    spec_model = TextCompareSpec
    spec: TextCompareSpec

    def compare(self, actual: Any, ref: Any) -> Score:
        """1 when the text starts with the prefix."""
        text = _fold(as_text(actual), self.spec.case_sensitive, self.spec.strip)
        prefix = _fold(as_text(ref), self.spec.case_sensitive, self.spec.strip)
        if not text:
            return Score(0.0, f"{self.spec.actual} is empty, expected prefix {_short(ref)}")
        if text.startswith(prefix):
            return Score(1.0, f"{self.spec.actual} starts with {_short(ref)}")
        head = as_text(actual).strip()[: max(len(prefix), 1) + 10]
        return Score(0.0, f"{self.spec.actual} starts with {_short(head)}, "
                          f"expected prefix {_short(ref)}")


def levenshtein(a: str, b: str) -> int:
    """Edit distance (insertions, deletions, substitutions) between two strings.

    Bit-parallel (Myers 1999, Hyyrö 2001) on Python integers: linear in the longer
    string, with one big-integer operation per character.

    Example:
        >>> levenshtein("kitten", "sitting")
        3
    """
    if len(a) < len(b):
        a, b = b, a
    m = len(b)
    if m == 0:
        return len(a)
    peq: dict[str, int] = {}
    for i, ch in enumerate(b):
        peq[ch] = peq.get(ch, 0) | (1 << i)
    full = (1 << m) - 1
    top = 1 << (m - 1)
    pv, mv, dist = full, 0, m
    for ch in a:
        eq = peq.get(ch, 0)
        xv = eq | mv
        xh = (((eq & pv) + pv) ^ pv) | eq
        ph = mv | ~(xh | pv)
        mh = pv & xh
        if ph & top:
            dist += 1
        elif mh & top:
            dist -= 1
        ph = (ph << 1) | 1
        mh <<= 1
        pv = (mh | ~(xv | ph)) & full
        mv = ph & xv & full
    return dist


class SimilaritySpec(TextCompareSpec):
    """Options of ``similarity``: normalised edit-distance similarity."""

    collapse_whitespace: bool = True
    """Treat any run of whitespace as one space before comparing."""


@register_scorer("similarity")
class Similarity(ComparingScorer):
    """``1 − levenshtein(a, b) / max(len(a), len(b))``; passes at 0.8 by default."""

    spec_model = SimilaritySpec
    spec: SimilaritySpec
    default_threshold = 0.8

    def _prep(self, value: Any) -> str:
        text = _fold(as_text(value), self.spec.case_sensitive, self.spec.strip)
        return " ".join(text.split()) if self.spec.collapse_whitespace else text

    def compare(self, actual: Any, ref: Any) -> Score:
        """Similarity in [0, 1]."""
        a, b = self._prep(actual), self._prep(ref)
        longest = max(len(a), len(b))
        if longest == 0:
            return Score(1.0, "both texts are empty", {"distance": 0})
        dist = levenshtein(a, b)
        value = 1.0 - dist / longest
        empty = f" ({self.spec.actual} is empty)" if not a else ""
        return Score(value, f"similarity {value:.3f} (edit distance {dist} over "
                            f"{longest} chars){empty}", {"distance": dist, "chars": longest})


class LengthSpec(ScorerSpec):
    """Options of ``length``."""

    actual: str = "output"
    """Dotted path of the text (or list) under test."""
    min: int | None = Field(default=None, ge=0)
    """Smallest allowed length (inclusive)."""
    max: int | None = Field(default=None, ge=0)
    """Largest allowed length (inclusive)."""
    unit: Literal["chars", "words", "lines", "items"] = "chars"
    """What to count: characters (code points), whitespace-separated words, non-empty
    lines, or items of a list."""

    @model_validator(mode="after")
    def _bounds(self) -> LengthSpec:
        if self.min is None and self.max is None:
            raise ValueError("give 'min', 'max' or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        return self


@register_scorer("length")
class Length(Scorer):
    """The length of ``actual`` lies within ``[min, max]``."""

    spec_model = LengthSpec
    spec: LengthSpec

    def check(self, view: TrialView) -> Score:
        """Count and compare with the bounds."""
        try:
            actual = view.resolve(self.spec.actual)
        except PathNotFound as exc:
            return Score(0.0, str(exc))
        unit = self.spec.unit
        if unit == "items":
            if not isinstance(actual, list | tuple | dict):
                return Score(0.0, f"{self.spec.actual} is {type(actual).__name__}, "
                                  "not a list (unit: items)")
            n = len(actual)
        else:
            text = unicodedata.normalize("NFC", as_text(actual))
            if unit == "chars":
                n = len(text)
            elif unit == "words":
                n = len(text.split())
            else:
                n = sum(1 for line in text.splitlines() if line.strip())
        lo, hi = self.spec.min, self.spec.max
        bounds = f"[{lo if lo is not None else 0}, {hi if hi is not None else '∞'}]"
        details = {"length": n, "unit": unit}
        if lo is not None and n < lo:
            return Score(0.0, f"{self.spec.actual} has {n} {unit}, fewer than {lo}", details)
        if hi is not None and n > hi:
            return Score(0.0, f"{self.spec.actual} has {n} {unit}, more than {hi}", details)
        return Score(1.0, f"{self.spec.actual} has {n} {unit}, within {bounds}", details)


REFUSAL_PHRASES: tuple[str, ...] = (
    "i can't help with", "i cannot help with", "i can't assist", "i cannot assist",
    "i can't comply", "i cannot comply", "i won't help", "i will not help",
    "i'm unable to help", "i am unable to help", "i'm not able to help",
    "i can't provide", "i cannot provide", "i won't provide", "i will not provide",
    "i must decline", "i have to decline", "i'm going to decline", "i decline to",
    "i'm sorry, but i can", "i am sorry, but i can", "sorry, but i can't",
    "sorry, i can't", "sorry, i cannot", "as an ai language model", "as an ai, i",
    "i'm not allowed to", "i am not allowed to", "it would be inappropriate",
    "against my guidelines", "i can't do that", "i cannot do that",
)
"""Phrases that mark a refusal (matched case-insensitively, apostrophes normalised)."""

ABSTENTION_PHRASES: tuple[str, ...] = (
    "i don't know", "i do not know", "i'm not certain", "i am not certain",
    "not enough information", "insufficient information", "not enough context",
    "i couldn't find", "i could not find", "i was unable to find", "i was not able to find",
    "no relevant information", "no information about", "there is no information",
    "the documentation does not", "the documentation doesn't", "the docs do not",
    "the provided documents do not", "the provided context does not",
    "cannot be determined", "can't be determined", "unable to determine",
    "i don't have enough", "i do not have enough", "i can't answer", "i cannot answer",
    "i'm unable to answer", "i am unable to answer", "not able to answer",
    "unanswerable", "outside the scope of the documentation",
)
"""Phrases that mark an abstention: the answer declines for lack of knowledge."""

REFUSAL_PATTERNS: tuple[str, ...] = (
    r"\b(?:i|we)\s+(?:can ?not|can't|won't|will not|am unable to|are unable to|"
    r"am not able to|are not able to)\s+(?:help|assist|answer|provide|comply|share|"
    r"fulfil|fulfill|do that|respond)",
)
"""Regular expressions for refusals the phrase list misses (searched after normalising)."""

_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "ʼ": "'", "`": "'"})


def normalise_for_refusal(text: str) -> str:
    """Casefold, unify apostrophes and collapse whitespace."""
    text = unicodedata.normalize("NFKC", text).translate(_APOSTROPHES).casefold()
    return " ".join(text.split())


class RefusalSpec(ScorerSpec):
    """Options of ``refusal``: scores 1 when the output refuses or abstains.

    Use ``negate: true`` for "must not refuse".
    """

    actual: str = "output"
    """Dotted path of the text under test."""
    kind: Literal["any", "refusal", "abstention"] = "any"
    """Refusals ("I can't help with that"), abstentions ("I don't know"), or either."""
    extra_phrases: list[str] = Field(default_factory=list)
    """More phrases to treat as refusal/abstention (case-insensitive)."""
    patterns: list[str] = Field(default_factory=list)
    """More regular expressions (searched in the normalised, casefolded text)."""
    window: int | None = Field(default=None, ge=1)
    """Only search the first N characters (None: the whole text)."""
    empty_is_refusal: bool = True
    """An empty output counts as abstaining."""


@register_scorer("refusal")
class Refusal(Scorer):
    """Detects refusals and abstentions with a documented phrase list and patterns."""

    spec_model = RefusalSpec
    spec: RefusalSpec

    def __init__(self, spec: ScorerSpec, env: ScorerEnv | None = None) -> None:
        super().__init__(spec, env)
        phrases: list[str] = []
        patterns: list[str] = []
        if self.spec.kind in ("any", "refusal"):
            phrases += REFUSAL_PHRASES
            patterns += REFUSAL_PATTERNS
        if self.spec.kind in ("any", "abstention"):
            phrases += ABSTENTION_PHRASES
        self._phrases: Sequence[str] = [normalise_for_refusal(p) for p in
                                        (*phrases, *self.spec.extra_phrases)]
        try:
            self._patterns = [re.compile(p) for p in (*patterns, *self.spec.patterns)]
        except re.error as exc:
            raise ValueError(f"invalid refusal pattern: {exc}") from None

    def check(self, view: TrialView) -> Score:
        """1 when a phrase or pattern matches."""
        try:
            actual = view.resolve(self.spec.actual)
        except PathNotFound as exc:
            return Score(0.0, str(exc))
        text = normalise_for_refusal(as_text(actual))
        if not text:
            if self.spec.empty_is_refusal:
                return Score(1.0, f"{self.spec.actual} is empty (counted as abstaining)")
            return Score(0.0, f"{self.spec.actual} is empty")
        if self.spec.window is not None:
            text = text[: self.spec.window]
        for phrase in self._phrases:
            at = text.find(phrase)
            if at >= 0:
                return Score(1.0, f"{self.spec.actual} refuses/abstains: {phrase!r} at {at}",
                             {"match": phrase})
        for pattern in self._patterns:
            m = pattern.search(text)
            if m:
                return Score(1.0, f"{self.spec.actual} refuses/abstains: {m.group(0)!r} "
                                  f"at {m.start()}", {"match": m.group(0)})
        return Score(0.0, f"{self.spec.actual} neither refuses nor abstains")
