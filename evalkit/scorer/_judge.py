"""LLM-as-judge: ``llm-rubric`` and ``llm-pairwise`` scorers and the :class:`Judge` behind them.

A judge call goes through the model layer (``evalkit.model``): it is an LLM span of the
running trial and may be served from the response cache, which keys by trial index so
repeated trials are judged independently. Each of N samples gets its own seed.

* The judge model is required: the suite's ``judge_model``, else the judge spec's
  ``model``. Without one, building the scorer fails; the model under test is never used
  in its place.
* Output is constrained to the spec's verdict schema; a reply that does not parse, or a
  failed call, raises :class:`~evalkit.errors.JudgeError` (status ``judge_error``).
* Pass is ``score ≥ threshold``, computed here, never read from the judge.
* Pairwise judging runs both orders; a winner that changes with the order is a tie.
"""

from __future__ import annotations

import asyncio
import statistics
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, model_validator

from evalkit.errors import JudgeError, ModelError, ScorerError
from evalkit.scorer._base import (
    PathNotFound,
    Score,
    Scorer,
    ScorerEnv,
    ScorerSpec,
    TrialView,
    register_scorer,
)
from evalkit.scorer._judge_spec import (
    JudgeSpec,
    judge_spec_from_dict,
    load_judge_spec,
    pairwise_model,
    render_messages,
    render_pairwise,
    verdict_model,
)
from evalkit.scorer._text import as_text

_CLIENTS: dict[tuple[str, str | None, str], Any] = {}


def shared_client(model: str, cache_dir: str | None = None, cache_mode: str = "off") -> Any:
    """One client per (model, cache) per process, created on first use."""
    key = (model, cache_dir, cache_mode)
    if key not in _CLIENTS:
        from evalkit.model import create_client

        _CLIENTS[key] = create_client(model, cache_dir=cache_dir, cache_mode=cache_mode)
    return _CLIENTS[key]


@dataclass(frozen=True)
class Judgement:
    """The aggregated verdict of one judged answer."""

    verdict: str
    score: float
    samples: tuple[str, ...]
    sample_scores: tuple[float, ...]
    reasoning: str
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def spread(self) -> float:
        """Population standard deviation of the sample scores (judge noise)."""
        return statistics.pstdev(self.sample_scores) if len(self.sample_scores) > 1 else 0.0

    @property
    def agreement(self) -> float:
        """Share of samples that gave the final verdict."""
        return self.samples.count(self.verdict) / len(self.samples)


@dataclass(frozen=True)
class PairwiseJudgement:
    """A pairwise comparison judged in both orders."""

    winner: str
    """``a``, ``b`` or ``tie``."""
    score: float
    """From A's side: 1 win, 0.5 tie, 0 loss."""
    forward: str
    """Winner with A shown first."""
    backward: str
    """Winner with B shown first (mapped back to a / b / tie)."""
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def order_consistent(self) -> bool:
        """Both orders named the same winner."""
        return self.forward == self.backward


@dataclass(frozen=True, slots=True)
class _Reply:
    """One parsed judge reply and the call that produced it."""

    verdict: str
    reasoning: str
    result: Any


class Judge:
    """A judge spec bound to a judge model.

    Example::

        judge = Judge(spec, "local")
        j = await judge.judge(question="What does len() return?", answer="The size.")
        j.verdict, j.score, j.spread
    """

    def __init__(self, spec: JudgeSpec, model: str, *, client: Any = None,
                 cache_dir: str | None = None, cache_mode: str = "off") -> None:
        self.spec = spec
        self.model = model
        self.hash = spec.hash
        self._client = client
        self._cache = (cache_dir, cache_mode)
        self._schema = verdict_model(spec)
        self._pair_schema = pairwise_model(spec)

    @property
    def client(self) -> Any:
        """The model client, created on first use."""
        if self._client is None:
            self._client = shared_client(self.model, *self._cache)
        return self._client

    def params(self) -> dict[str, Any]:
        """Sampling parameters, as recorded with every judgement."""
        s = self.spec
        return {"temperature": s.temperature, "max_tokens": s.max_tokens, "samples": s.samples,
                "aggregate": s.aggregate, "threshold": s.threshold}

    async def _ask(self, messages: list[dict[str, str]], schema: type[BaseModel], *,
                   trial: int, seed: int, attrs: Mapping[str, Any]) -> _Reply:
        try:
            result = await self.client.chat(
                messages, schema=schema, temperature=self.spec.temperature,
                max_tokens=self.spec.max_tokens, seed=seed, trial=trial,
                span_attributes=dict(attrs))
        except ModelError as exc:
            raw = getattr(exc, "raw", None)
            raise JudgeError(f"judge {self.spec.name} ({self.model}) failed: {exc}",
                             raw=raw if isinstance(raw, str) else None) from None
        parsed = result.parsed
        if not isinstance(parsed, schema):
            from evalkit.model import StructuredOutputError, validate_structured

            try:
                parsed = validate_structured(schema, str(result.text), model=self.model)
            except StructuredOutputError as exc:
                raise JudgeError(f"judge {self.spec.name} reply does not parse: {exc}",
                                 raw=str(result.text)) from None
        data = parsed.model_dump()
        return _Reply(str(data["verdict"]), str(data.get("reasoning", "")), result)

    async def _samples(self, messages: list[dict[str, str]], schema: type[BaseModel], *,
                       trial: int, seed: int, attrs: Mapping[str, Any]) -> list[_Reply]:
        base = {"evalkit.judge.name": self.spec.name, "evalkit.judge.spec_hash": self.hash,
                **attrs}
        return list(await asyncio.gather(*(
            self._ask(messages, schema, trial=trial, seed=seed + i,
                      attrs={**base, "evalkit.judge.sample": i})
            for i in range(self.spec.samples))))

    async def judge(self, *, answer: str, question: str | None = None,
                    reference: str | None = None, trial: int = 0, seed: int = 0,
                    span_attributes: Mapping[str, Any] | None = None) -> Judgement:
        """Judge one answer with ``samples`` replies and aggregate them.

        Raises:
            JudgeError: a reply does not parse, or a call failed.
        """
        truncated = len(answer) > self.spec.max_answer_chars
        if truncated:
            answer = answer[: self.spec.max_answer_chars] + " […]"
        messages = render_messages(self.spec, question=question, answer=answer,
                                   reference=reference)
        replies = await self._samples(messages, self._schema, trial=trial, seed=seed,
                                      attrs=span_attributes or {})
        verdicts = tuple(r.verdict for r in replies)
        scores = tuple(self.spec.verdict_score(v) for v in verdicts)
        counts = Counter(verdicts)
        top = max(counts.values())
        tied = [v for v in self.spec.verdicts if counts.get(v) == top]
        # A tie between verdicts goes to the lowest-scoring one: conservative, deterministic.
        majority = min(tied, key=self.spec.verdict_score)
        score = (statistics.fmean(scores) if self.spec.aggregate == "mean"
                 else self.spec.verdict_score(majority))
        reasoning = next((r.reasoning for r in replies if r.verdict == majority), "")
        judgement = Judgement(majority, score, verdicts, scores, reasoning)
        details = {
            "judge": self.spec.name, "spec_hash": self.hash, "model": self.model,
            "params": self.params(), "verdict": majority, "score": score,
            "samples": list(verdicts), "sample_scores": list(scores),
            "spread": judgement.spread, "agreement": judgement.agreement,
            "majority_tie": len(tied) > 1, "reasoning": reasoning[:1000],
            "answer_truncated": truncated, **_usage(replies),
        }
        return replace(judgement, details=details)

    async def pairwise(self, *, output_a: str, output_b: str, question: str | None = None,
                       reference: str | None = None, trial: int = 0, seed: int = 0,
                       span_attributes: Mapping[str, Any] | None = None) -> PairwiseJudgement:
        """Compare two answers in both orders; an order-dependent winner is a tie."""
        attrs = dict(span_attributes or {})
        forward_msgs = render_pairwise(self.spec, question=question, first=output_a,
                                       second=output_b, reference=reference)
        backward_msgs = render_pairwise(self.spec, question=question, first=output_b,
                                        second=output_a, reference=reference)
        fwd, bwd = await asyncio.gather(
            self._samples(forward_msgs, self._pair_schema, trial=trial, seed=seed,
                          attrs={**attrs, "evalkit.judge.order": "ab"}),
            self._samples(backward_msgs, self._pair_schema, trial=trial,
                          seed=seed + self.spec.samples,
                          attrs={**attrs, "evalkit.judge.order": "ba"}))
        forward = _winner([r.verdict for r in fwd], {"A": "a", "B": "b"})
        backward = _winner([r.verdict for r in bwd], {"A": "b", "B": "a"})
        winner = forward if forward == backward else "tie"
        score = {"a": 1.0, "tie": 0.5, "b": 0.0}[winner]
        details = {
            "judge": self.spec.name, "spec_hash": self.hash, "model": self.model,
            "params": self.params(), "winner": winner, "forward": forward,
            "backward": backward, "order_consistent": forward == backward,
            "samples_forward": [r.verdict for r in fwd],
            "samples_backward": [r.verdict for r in bwd],
            **_usage(fwd + bwd),
        }
        return PairwiseJudgement(winner, score, forward, backward, details)


def _winner(verdicts: list[str], mapping: Mapping[str, str]) -> str:
    """Majority winner of one order's samples, mapped to a / b / tie (ties → tie)."""
    counts = Counter(mapping.get(v, "tie") for v in verdicts)
    top = max(counts.values())
    leaders = [w for w, c in counts.items() if c == top]
    return leaders[0] if len(leaders) == 1 else "tie"


def _usage(replies: list[_Reply]) -> dict[str, Any]:
    results = [r.result for r in replies]
    return {
        "input_tokens": sum(int(getattr(r, "input_tokens", 0) or 0) for r in results),
        "output_tokens": sum(int(getattr(r, "output_tokens", 0) or 0) for r in results),
        "latency_s": sum(float(getattr(r, "latency_s", 0.0) or 0.0) for r in results),
        "cached": [bool(getattr(r, "cached", False)) for r in results],
    }


async def judge_pairwise(spec: JudgeSpec, question: str | None, output_a: str, output_b: str,
                         *, model: str, client: Any = None, reference: str | None = None,
                         trial: int = 0, seed: int = 0) -> PairwiseJudgement:
    """Judge which of two outputs is better, in both orders (see :meth:`Judge.pairwise`)."""
    judge = Judge(spec, model, client=client)
    return await judge.pairwise(output_a=output_a, output_b=output_b, question=question,
                                reference=reference, trial=trial, seed=seed)


class JudgeScorerSpec(ScorerSpec):
    """Options of ``llm-rubric``: a judge spec (path or inline), or a bare ``rubric``."""

    judge: str | dict[str, Any] | None = None
    """Path of a judge spec YAML (``judges/x.yaml``) or the spec inline."""
    rubric: str | None = None
    """Shortcut: a rubric judged pass/fail on ``output`` against ``input``."""
    correct_for_judge_error: bool = False
    """Also report ``corrected_pass_rate:<metric>``: the judged pass rate corrected for
    the judge's measured sensitivity and specificity (Rogan–Gladen), from the judge's
    calibration record (``evalkit judge calibrate``)."""

    @model_validator(mode="after")
    def _one_judge(self) -> JudgeScorerSpec:
        if (self.judge is None) == (self.rubric is None):
            raise ValueError("give exactly one of 'judge' (a spec path or mapping) and 'rubric'")
        return self


def resolve_judge_spec(spec: JudgeScorerSpec, name: str, env: ScorerEnv
                       ) -> tuple[JudgeSpec, Path | None]:
    """The judge spec a scorer names, and the file it came from."""
    if spec.rubric is not None:
        return judge_spec_from_dict({"name": name, "rubric": spec.rubric}), None
    if isinstance(spec.judge, dict):
        return judge_spec_from_dict(spec.judge), None
    assert spec.judge is not None
    bases = [Path(str(p)) for p in (env.extra.get("suite_dir"),) if p]
    search = tuple(b for base in bases for b in (base, base.parent))
    return load_judge_spec(spec.judge, search=search)


def judge_model_for(judge: JudgeSpec, env: ScorerEnv, scorer_type: str) -> str:
    """The suite's ``judge_model``, else the spec's ``model``; never the model under test.

    Raises:
        ValueError: neither is set.
    """
    model = env.judge_model or judge.model
    if not model:
        raise ValueError(f"{scorer_type} needs a judge model: set 'judge_model' in the suite "
                         "or 'model' in the judge spec (the model under test is never used "
                         "as its judge by default)")
    return model


class _JudgeScorer(Scorer):
    spec_model: ClassVar[type[ScorerSpec]] = JudgeScorerSpec
    spec: JudgeScorerSpec
    is_judge = True

    def __init__(self, spec: ScorerSpec, env: ScorerEnv | None = None) -> None:
        super().__init__(spec, env)
        judge_spec, path = resolve_judge_spec(self.spec, self.name, self.env)
        model = judge_model_for(judge_spec, self.env, self.spec.type)
        if self.spec.threshold is None:
            self.threshold = judge_spec.threshold
        client = self.env.extra.get("judge_client")
        self.judge = Judge(judge_spec, model, client=client, cache_dir=self.env.cache_dir,
                           cache_mode=self.env.cache_mode)
        from evalkit.scorer._calibrate import calibration_summary

        self._calibration = calibration_summary(
            judge_spec.hash, model, root=path.parent / ".calibration" if path else None)

    def _text(self, view: TrialView, path: str | None, what: str) -> str | None:
        if path is None:
            return None
        try:
            return as_text(view.resolve(path))
        except PathNotFound as exc:
            raise ScorerError(f"judge {what} missing: {exc}", scorer=self.name) from None

    def _answer(self, view: TrialView) -> str | Score:
        """The answer to judge, or the failing Score when it is missing or empty."""
        path = self.judge.spec.answer
        try:
            answer = as_text(view.resolve(path))
        except PathNotFound as exc:
            return Score(0.0, str(exc))
        if not answer.strip():
            return Score(0.0, f"{path} is empty; nothing to judge")
        return answer

    def _common(self, view: TrialView) -> dict[str, Any]:
        details: dict[str, Any] = {"calibration": self._calibration}
        if self.spec.correct_for_judge_error:
            details["correct_for_judge_error"] = True
        if self.env.model_under_test and self.env.model_under_test == self.judge.model:
            details["self_judging"] = True
        return details


@register_scorer("llm-rubric")
class LLMRubric(_JudgeScorer):
    """An LLM judge grading ``answer`` by a rubric into one of the allowed verdicts."""

    async def check(self, view: TrialView) -> Score:
        """Judge the trial's answer; pass is computed from the score."""
        spec = self.judge.spec
        answer = self._answer(view)
        if isinstance(answer, Score):
            return answer
        question = self._text(view, spec.question, "question")
        reference = self._text(view, spec.reference, "reference")
        j = await self.judge.judge(answer=answer, question=question, reference=reference,
                                   trial=view.trial, seed=view.seed,
                                   span_attributes={"evalkit.scorer": self.name})
        votes = "" if len(j.samples) == 1 else \
            f" ({j.samples.count(j.verdict)}/{len(j.samples)} samples, spread {j.spread:.2f})"
        reason = f"{spec.name}: {j.verdict}{votes}"
        if j.reasoning:
            reason += f" — {j.reasoning[:200]}"
        return Score(j.score, reason, {**j.details, **self._common(view)})


class PairwiseScorerSpec(JudgeScorerSpec):
    """Options of ``llm-pairwise``: the trial's answer against another answer."""

    other: str
    """Dotted path of the answer to compare with (e.g. ``expected.baseline_answer``)."""

    @model_validator(mode="after")
    def _no_correction(self) -> PairwiseScorerSpec:
        if self.correct_for_judge_error:
            raise ValueError("correct_for_judge_error applies to llm-rubric pass/fail "
                             "verdicts, not to pairwise preferences")
        return self


@register_scorer("llm-pairwise")
class LLMPairwise(_JudgeScorer):
    """Pairwise judge: 1 when the trial's answer wins, 0.5 tie, 0 loss (both orders)."""

    spec_model = PairwiseScorerSpec
    spec: PairwiseScorerSpec
    default_threshold = 0.5

    def __init__(self, spec: ScorerSpec, env: ScorerEnv | None = None) -> None:
        super().__init__(spec, env)
        if self.spec.threshold is None:
            self.threshold = 0.5

    async def check(self, view: TrialView) -> Score:
        """Compare and score from the trial's side."""
        spec = self.judge.spec
        answer = self._answer(view)
        if isinstance(answer, Score):
            return answer
        other = self._text(view, self.spec.other, "other answer") or ""
        question = self._text(view, spec.question, "question")
        reference = self._text(view, spec.reference, "reference")
        p = await self.judge.pairwise(output_a=answer, output_b=other, question=question,
                                      reference=reference, trial=view.trial, seed=view.seed,
                                      span_attributes={"evalkit.scorer": self.name})
        flip = "" if p.order_consistent else \
            f" (order-dependent: {p.forward} first, {p.backward} reversed → tie)"
        outcome = {"a": "wins", "b": "loses", "tie": "ties"}[p.winner]
        return Score(p.score, f"{spec.answer} {outcome} against {self.spec.other}{flip}",
                     {**p.details, **self._common(view)})
