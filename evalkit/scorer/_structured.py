"""Structured-output checks: json-valid, json-schema, pydantic, numeric, set-f1.

A string is parsed as JSON first (``extract: true`` also finds JSON inside prose or a
fenced code block); a value that is already structured (a mapping, a list) is used as
it is. Every failure is a failed check whose reason says where and why.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, model_validator

from evalkit._imports import import_object
from evalkit.errors import TargetImportError
from evalkit.scorer._base import (
    PathNotFound,
    Score,
    Scorer,
    ScorerEnv,
    ScorerSpec,
    TrialView,
    register_scorer,
)
from evalkit.scorer._checks import CompareSpec, ComparingScorer, _short


class NotJson(ValueError):
    """The value is not (and does not contain) a JSON document."""


def parse_json_value(value: Any, *, extract: bool = False) -> Any:
    """The JSON value *value* holds: parsed from text, or itself when already structured.

    Args:
        value: text to parse, or an already-parsed value (mapping, list, number, bool).
        extract: also look for the first JSON object or array inside the text (after
            prose, or in a fenced code block).

    Raises:
        NotJson: with a message naming the position of the first error.
    """
    if value is None:
        raise NotJson("is null, not a JSON document")
    if not isinstance(value, str):
        return value
    text = value.strip()
    if not text:
        raise NotJson("is empty")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        first = exc
    if extract:
        decoder = json.JSONDecoder()
        for m in re.finditer(r"[\[{]", text):
            try:
                obj, _ = decoder.raw_decode(text, m.start())
            except json.JSONDecodeError:
                continue
            return obj
        raise NotJson("contains no JSON object or array") from None
    raise NotJson(f"is not valid JSON: {first.msg} at line {first.lineno} "
                  f"column {first.colno}") from None


class JsonSpec(ScorerSpec):
    """Options shared by the JSON checks."""

    actual: str = "output"
    """Dotted path of the value under test."""
    extract: bool = False
    """Find the first JSON object/array inside text instead of requiring pure JSON."""


@register_scorer("json-valid")
class JsonValid(Scorer):
    """``actual`` is (or, with ``extract``, contains) a JSON document."""

    spec_model = JsonSpec
    spec: JsonSpec

    def check(self, view: TrialView) -> Score:
        """1 when the value parses."""
        try:
            value = parse_json_value(view.resolve(self.spec.actual), extract=self.spec.extract)
        except (PathNotFound, NotJson) as exc:
            return Score(0.0, _where(self.spec.actual, exc))
        return Score(1.0, f"{self.spec.actual} is a JSON {_json_kind(value)}")


def _where(path: str, exc: Exception) -> str:
    return str(exc) if isinstance(exc, PathNotFound) else f"{path} {exc}"


def _json_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return type(value).__name__


class JsonSchemaSpec(JsonSpec):
    """Options of ``json-schema``: one of ``schema``, ``schema_file``, ``expected``."""

    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    """The JSON Schema, inline."""
    schema_file: str | None = None
    """Path of a JSON (or YAML) file holding the schema."""
    expected: str | None = None
    """Dotted path of a schema carried by the case (e.g. ``expected.schema``)."""

    @model_validator(mode="after")
    def _one_schema(self) -> JsonSchemaSpec:
        given = [k for k in ("schema_", "schema_file", "expected") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of 'schema', 'schema_file' and 'expected'")
        return self


@register_scorer("json-schema")
class JsonSchema(Scorer):
    """``actual`` parses as JSON and validates against a JSON Schema."""

    spec_model = JsonSchemaSpec
    spec: JsonSchemaSpec

    def __init__(self, spec: ScorerSpec, env: ScorerEnv | None = None) -> None:
        super().__init__(spec, env)
        self._validator: Any = None
        schema = self.spec.schema_
        if self.spec.schema_file is not None:
            path = Path(self.spec.schema_file)
            try:
                import yaml

                schema = yaml.safe_load(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise ValueError(f"cannot read schema_file {str(path)!r}: {exc}") from None
        if schema is not None:
            self._validator = _make_validator(schema)

    def check(self, view: TrialView) -> Score:
        """1 when the document is valid; the reason names the first error's location."""
        try:
            value = parse_json_value(view.resolve(self.spec.actual), extract=self.spec.extract)
            validator = self._validator
            if validator is None:
                assert self.spec.expected is not None
                validator = _make_validator(view.resolve(self.spec.expected))
        except (PathNotFound, NotJson) as exc:
            return Score(0.0, _where(self.spec.actual, exc))
        import jsonschema

        errors = list(validator.iter_errors(value))
        if not errors:
            return Score(1.0, f"{self.spec.actual} matches the schema")
        best = jsonschema.exceptions.best_match(errors)
        loc = best.json_path if best is not None else "$"
        more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
        message = best.message if best is not None else "invalid"
        return Score(0.0, f"{self.spec.actual} at {loc}: {message}{more}",
                     {"errors": len(errors)})


def _make_validator(schema: Any) -> Any:
    import jsonschema

    if not isinstance(schema, dict):
        raise ValueError(f"a JSON Schema must be a mapping, got {type(schema).__name__}")
    cls = jsonschema.validators.validator_for(schema)
    try:
        cls.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise ValueError(f"invalid JSON Schema: {exc.message}") from None
    return cls(schema)


class PydanticSpec(JsonSpec):
    """Options of ``pydantic``."""

    model: str
    """``module:Class`` of a pydantic model the value must validate against."""
    strict: bool = False
    """Pydantic strict mode (no type coercion)."""


@register_scorer("pydantic")
class PydanticCheck(Scorer):
    """``actual`` validates against a pydantic model given by import path."""

    spec_model = PydanticSpec
    spec: PydanticSpec

    def __init__(self, spec: ScorerSpec, env: ScorerEnv | None = None) -> None:
        super().__init__(spec, env)
        try:
            model = import_object(self.spec.model)
        except TargetImportError as exc:
            raise ValueError(f"cannot import model: {exc}") from None
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            raise ValueError(f"{self.spec.model!r} is not a pydantic model class")
        self._model: type[BaseModel] = model

    def check(self, view: TrialView) -> Score:
        """1 when the model validates the value."""
        try:
            value = parse_json_value(view.resolve(self.spec.actual), extract=self.spec.extract)
        except (PathNotFound, NotJson) as exc:
            return Score(0.0, _where(self.spec.actual, exc))
        name = self._model.__name__
        try:
            self._model.model_validate(value, strict=self.spec.strict)
        except ValidationError as exc:
            errs = exc.errors()
            first = errs[0]
            loc = ".".join(str(p) for p in first["loc"]) or "(root)"
            more = f" (+{len(errs) - 1} more)" if len(errs) > 1 else ""
            return Score(0.0, f"{self.spec.actual} is not a valid {name}: {loc}: "
                              f"{first['msg']}{more}", {"errors": len(errs)})
        return Score(1.0, f"{self.spec.actual} is a valid {name}")


_NUMBER = re.compile(r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?|[-+]?\.\d+")


def parse_number(value: Any, extract: str = "exact") -> float:
    """A number from a value: ints and floats as they are, text parsed.

    ``extract`` is ``exact`` (the whole text is one number), ``first`` or ``last`` (the
    first/last number in the text). Thousands separators (``1,234``), a Unicode minus
    and non-ASCII digits are understood.

    Raises:
        ValueError: no (finite) number.
    """
    if isinstance(value, bool) or value is None:
        raise ValueError(f"is {value!r}, not a number")
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        text = value.replace("\u2212", "-").strip()
        if not text:
            raise ValueError("is empty, not a number")
        if extract == "exact":
            try:
                number = float(text.replace(",", "").replace("_", ""))
            except ValueError:
                raise ValueError(f"{_short(value, 40)} is not a number") from None
        else:
            found = _NUMBER.findall(text)
            if not found:
                raise ValueError(f"{_short(value, 40)} contains no number")
            number = float((found[0] if extract == "first" else found[-1]).replace(",", ""))
    else:
        raise ValueError(f"is {type(value).__name__}, not a number")
    if not math.isfinite(number):
        raise ValueError(f"is {number}, not a finite number")
    return number


class NumericSpec(CompareSpec):
    """Options of ``numeric``: ``|actual − ref| ≤ max(abs_tol, rel_tol·|ref|)``."""

    abs_tol: float = Field(default=0.0, ge=0)
    """Absolute tolerance."""
    rel_tol: float = Field(default=0.0, ge=0)
    """Tolerance relative to the reference value."""
    extract: Literal["exact", "first", "last"] = "exact"
    """How to read a number from text: the whole text, or its first / last number."""


@register_scorer("numeric")
class Numeric(ComparingScorer):
    """``actual`` is numerically within tolerance of the reference."""

    spec_model = NumericSpec
    spec: NumericSpec

    def compare(self, actual: Any, ref: Any) -> Score:
        """1 when within tolerance."""
        try:
            a = parse_number(actual, self.spec.extract)
        except ValueError as exc:
            return Score(0.0, f"{self.spec.actual} {exc}")
        try:
            b = parse_number(ref, "exact")
        except ValueError as exc:
            return Score(0.0, f"reference {exc}")
        tol = max(self.spec.abs_tol, self.spec.rel_tol * abs(b))
        diff = abs(a - b)
        details = {"actual": a, "expected": b, "diff": diff, "tolerance": tol}
        if diff <= tol:
            return Score(1.0, f"{self.spec.actual} = {a:g}, within {tol:g} of {b:g}", details)
        return Score(0.0, f"{self.spec.actual} = {a:g}, off by {diff:g} from {b:g} "
                          f"(tolerance {tol:g})", details)


class SetF1Spec(CompareSpec):
    """Options of ``set-f1``: set precision, recall or F1 of ``actual`` vs the reference."""

    measure: Literal["f1", "precision", "recall"] = "f1"
    """Which figure becomes the score (all three go to ``details``)."""
    case_sensitive: bool = True
    """Compare string items case-sensitively."""
    split: str | None = None
    """Split text values on this separator (e.g. ``","``); else text is an error."""


@register_scorer("set-f1")
class SetF1(ComparingScorer):
    """Precision / recall / F1 of two sets (items compared after normalising).

    Conventions: both empty → 1; nothing predicted → precision 0; nothing expected →
    recall 1 (and F1 0 when something was predicted).
    """

    spec_model = SetF1Spec
    spec: SetF1Spec

    def _items(self, value: Any, what: str) -> dict[str, Any] | str:
        if isinstance(value, str):
            if self.spec.split is None:
                return f"{what} is text, not a list (set 'split' to split it)"
            value = [v for v in value.split(self.spec.split) if v.strip()]
        if not isinstance(value, list | tuple | set):
            return f"{what} is {type(value).__name__}, not a list"
        out: dict[str, Any] = {}
        for item in value:
            key = item.strip() if isinstance(item, str) else json.dumps(
                item, sort_keys=True, ensure_ascii=False, default=str)
            out[key if self.spec.case_sensitive else key.casefold()] = item
        return out

    def compare(self, actual: Any, ref: Any) -> Score:
        """Score the chosen measure; details hold all three and the differences."""
        pred = self._items(actual, self.spec.actual)
        gold = self._items(ref, "reference")
        if isinstance(pred, str):
            return Score(0.0, pred)
        if isinstance(gold, str):
            return Score(0.0, gold)
        tp = len(pred.keys() & gold.keys())
        precision, recall, f1 = set_prf(tp, len(pred), len(gold))
        missing = [gold[k] for k in gold if k not in pred]
        extra = [pred[k] for k in pred if k not in gold]
        value = {"precision": precision, "recall": recall, "f1": f1}[self.spec.measure]
        details = {"precision": precision, "recall": recall, "f1": f1, "tp": tp,
                   "missing": missing[:10], "extra": extra[:10]}
        parts = [f"{self.spec.measure} {value:.3f} ({tp} of {len(gold)} expected, "
                 f"{len(pred)} given)"]
        if missing:
            parts.append(f"missing {_list(missing)}")
        if extra:
            parts.append(f"extra {_list(extra)}")
        return Score(value, "; ".join(parts), details)


def set_prf(tp: int, n_pred: int, n_gold: int) -> tuple[float, float, float]:
    """Precision, recall and F1 from counts (see :class:`SetF1` for the conventions)."""
    if n_pred == 0 and n_gold == 0:
        return 1.0, 1.0, 1.0
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_gold if n_gold else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def _list(items: Iterable[Any], limit: int = 3) -> str:
    items = list(items)
    shown = ", ".join(_short(i, 30) for i in items[:limit])
    return shown + (f" (+{len(items) - limit} more)" if len(items) > limit else "")
