"""Judge specs: an LLM judge described as data (YAML in ``judges/`` or inline).

Example (``judges/pydocs_correctness.yaml``)::

    name: pydocs_correctness
    rubric: |
      The answer must be factually correct about Python ...
    verdicts:
      correct: {score: 1.0, description: "fully correct"}
      partial: 0.5
      incorrect: 0.0
    threshold: 1.0
    question: input.question
    answer: output.answer
    reference: expected.reference
    samples: 3
    aggregate: majority

The judge replies with JSON constrained to a schema built from the spec: a ``reasoning``
string first (chain of thought, when ``reasoning: true``), then ``verdict``, one of
the allowed verdicts. A verdict's score comes from the spec; pass is ``score ≥
threshold``. The judge is never asked whether the answer "passes".
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any, Literal, cast

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

from evalkit.dataset import canonical_json


class VerdictOption(BaseModel):
    """One allowed verdict."""

    model_config = ConfigDict(extra="forbid")

    score: float = Field(ge=0, le=1)
    """The score this verdict gives, in [0, 1]."""
    description: str = ""
    """What the verdict means, shown to the judge."""


DEFAULT_SYSTEM = (
    "You are a careful, strict grader. You grade one answer against a rubric. "
    "Judge only what the answer says; length and confidence are not correctness. "
    "Reply with a single JSON object and nothing else."
)

_VARS = ("rubric", "question", "answer", "reference", "verdicts")
_VAR_RE = re.compile(r"\{\{\s*(\w+)\s*\}\}")


class JudgeSpec(BaseModel):
    """A judge: rubric, allowed verdicts with scores, inputs and sampling."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    """The judge's name (shown in reports and calibration records)."""
    description: str = ""
    """What this judge measures."""
    version: str = "1"
    """Bump when the rubric changes in meaning (the hash changes anyway)."""
    model: str | None = None
    """Default judge model; the suite's ``judge_model`` overrides it."""
    rubric: str = Field(min_length=1)
    """What a good answer is; the heart of the prompt."""
    verdicts: dict[str, VerdictOption] = Field(
        default_factory=lambda: {"pass": VerdictOption(score=1.0),
                                 "fail": VerdictOption(score=0.0)})
    """Allowed verdicts, in order, each with its score (a number or ``{score, description}``)."""
    threshold: float = Field(default=0.5, ge=0, le=1)
    """Pass when the score is at least this (a scorer's ``threshold`` overrides it)."""
    question: str | None = "input"
    """Dotted path of the question shown to the judge (None: no question)."""
    answer: str = "output"
    """Dotted path of the answer under judgement."""
    reference: str | None = None
    """Dotted path of a reference answer (optional)."""
    reasoning: bool = True
    """Ask for a short ``reasoning`` before the ``verdict`` (chain of thought, then answer)."""
    reasoning_max_chars: int = Field(default=400, ge=20, le=20_000)
    """Upper bound on the reasoning's length (part of the schema)."""
    temperature: float = Field(default=0.0, ge=0, le=2)
    """Sampling temperature of the judge."""
    max_tokens: int = Field(default=256, ge=8, le=32_000)
    """Token limit of one judge reply."""
    samples: int = Field(default=1, ge=1, le=50)
    """Judge replies per trial (each with its own seed)."""
    aggregate: Literal["majority", "mean"] = "majority"
    """How samples combine: the most common verdict, or the mean of verdict scores."""
    max_answer_chars: int = Field(default=6000, ge=100)
    """Longer answers are cut (recorded in details) so the prompt fits the context."""
    system: str = DEFAULT_SYSTEM
    """System prompt."""
    template: str | None = None
    """User prompt template with ``{{rubric}}``, ``{{question}}``, ``{{answer}}``,
    ``{{reference}}``, ``{{verdicts}}`` (None: the built-in layout)."""

    @field_validator("verdicts", mode="before")
    @classmethod
    def _verdict_shorthand(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {str(k): {"score": v} if isinstance(v, int | float) and not isinstance(v, bool)
                    else v for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _check(self) -> JudgeSpec:
        if len(self.verdicts) < 2:
            raise ValueError("verdicts: give at least two allowed verdicts")
        for name in self.verdicts:
            if not name.strip():
                raise ValueError("verdicts: a verdict name is empty")
        if self.template is not None:
            unknown = sorted(set(_VAR_RE.findall(self.template)) - set(_VARS))
            if unknown:
                raise ValueError(f"template: unknown placeholder(s) {', '.join(unknown)}; "
                                 f"known: {', '.join(_VARS)}")
            if "{{" not in self.template or "answer" not in _VAR_RE.findall(self.template):
                raise ValueError("template: must contain {{answer}}")
        return self

    @property
    def hash(self) -> str:
        """``sha256:…`` of the canonical spec (verdict shorthand normalised)."""
        return spec_hash(self)

    def verdict_score(self, verdict: str) -> float:
        """The score of an allowed verdict."""
        return self.verdicts[verdict].score

    def passes(self, score: float) -> bool:
        """``score ≥ threshold``."""
        return score >= self.threshold


def spec_hash(spec: JudgeSpec) -> str:
    """sha256 over the canonical JSON of the validated spec."""
    text = canonical_json(spec.model_dump(mode="json"))
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def _format_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"])
    msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
    more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
    return f"{loc}: {msg}{more}" if loc else f"{msg}{more}"


def judge_spec_from_dict(raw: Any, *, source: str = "inline judge spec") -> JudgeSpec:
    """Validate a judge spec given as a mapping.

    Raises:
        ValueError: naming the key and what was expected.
    """
    if not isinstance(raw, dict):
        raise ValueError(f"{source}: expected a mapping, got {type(raw).__name__}")
    try:
        return JudgeSpec.model_validate(raw)
    except ValidationError as exc:
        raise ValueError(f"{source}: {_format_error(exc)}") from None


def load_judge_spec(path: str | Path, *, search: tuple[Path, ...] = ()) -> tuple[JudgeSpec, Path]:
    """Read a judge spec YAML file (tried as given, then under each *search* folder).

    Returns:
        The spec and the file it came from.

    Raises:
        ValueError: file not found, invalid YAML, or an invalid spec (naming the key).
    """
    candidates = [Path(path)] + [base / path for base in search if not Path(path).is_absolute()]
    found = next((p for p in candidates if p.is_file()), None)
    if found is None:
        raise ValueError(f"judge spec {str(path)!r} not found")
    try:
        raw = yaml.safe_load(found.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ValueError(f"{found}: invalid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    return judge_spec_from_dict(raw, source=str(found)), found


def verdict_model(spec: JudgeSpec) -> type[BaseModel]:
    """The pydantic schema the judge's reply must match: ``reasoning`` then ``verdict``."""
    allowed = cast(Any, Literal)[tuple(spec.verdicts)]
    fields: dict[str, Any] = {}
    if spec.reasoning:
        fields["reasoning"] = (str, Field(max_length=spec.reasoning_max_chars,
                                          description="Brief reasoning, before the verdict."))
    fields["verdict"] = (allowed, Field(description="One of the allowed verdicts."))
    model: type[BaseModel] = create_model(
        "JudgeVerdict", __config__=ConfigDict(extra="forbid"), **fields)
    return model


def pairwise_model(spec: JudgeSpec) -> type[BaseModel]:
    """The schema of a pairwise reply: ``reasoning`` then ``verdict`` in A / B / tie."""
    fields: dict[str, Any] = {}
    if spec.reasoning:
        fields["reasoning"] = (str, Field(max_length=spec.reasoning_max_chars))
    fields["verdict"] = (Literal["A", "B", "tie"], Field(description="The better answer."))
    model: type[BaseModel] = create_model(
        "PairwiseVerdict", __config__=ConfigDict(extra="forbid"), **fields)
    return model


def _verdict_lines(spec: JudgeSpec) -> str:
    return "\n".join(f"- {name}: {opt.description}" if opt.description else f"- {name}"
                     for name, opt in spec.verdicts.items())


def _reply_line(spec: JudgeSpec, choices: str) -> str:
    if spec.reasoning:
        return ('Reply with JSON: {"reasoning": "<one or two sentences>", '
                f'"verdict": "<one of: {choices}>"}}')
    return f'Reply with JSON: {{"verdict": "<one of: {choices}>"}}'


def render_messages(spec: JudgeSpec, *, question: str | None, answer: str,
                    reference: str | None) -> list[dict[str, str]]:
    """The chat messages of one judgement."""
    verdicts = _verdict_lines(spec)
    if spec.template is not None:
        values = {"rubric": spec.rubric.strip(), "question": question or "",
                  "answer": answer, "reference": reference or "", "verdicts": verdicts}
        user = _VAR_RE.sub(lambda m: values[m.group(1)], spec.template)
    else:
        parts = [f"Rubric:\n{spec.rubric.strip()}"]
        if question is not None:
            parts.append(f"Question:\n{question}")
        if reference is not None:
            parts.append(f"Reference answer:\n{reference}")
        parts.append(f"Answer to grade:\n{answer}")
        parts.append(f"Verdicts:\n{verdicts}")
        parts.append(_reply_line(spec, ", ".join(spec.verdicts)))
        user = "\n\n".join(parts)
    return [{"role": "system", "content": spec.system}, {"role": "user", "content": user}]


def render_pairwise(spec: JudgeSpec, *, question: str | None, first: str, second: str,
                    reference: str | None) -> list[dict[str, str]]:
    """The chat messages of one pairwise judgement (A shown first)."""
    parts = [f"Rubric:\n{spec.rubric.strip()}"]
    if question is not None:
        parts.append(f"Question:\n{question}")
    if reference is not None:
        parts.append(f"Reference answer:\n{reference}")
    parts.append(f"Answer A:\n{first}")
    parts.append(f"Answer B:\n{second}")
    parts.append("Which answer is better by the rubric? Say tie if neither is better.")
    parts.append(_reply_line(spec, "A, B, tie"))
    return [{"role": "system", "content": spec.system},
            {"role": "user", "content": "\n\n".join(parts)}]
