"""The reference pipeline: a question-answering assistant over Python's doc topics.

Targets for suites::

    target: "evalkit.reference.pipeline:answer_question"   # workflow: the whole pipeline
    target: "evalkit.reference.pipeline:research"          # component: the Researcher

Flow of :func:`answer_question` (each step checkpointed, each agent a span)::

    guard (risk tier of the question; high → halt and decline)
      → researcher: plan → search → read → evidence  ⇒ ResearchNotes
      → (too little evidence → decline)
      → writer: pick evidence, compose              ⇒ DraftAnswer
      → verifier: citation/quote/grounding checks + model check ⇒ Verdict
      → escalation: confident → answered; else queued for approval → escalated

Parameters (suite ``params``, all optional):

* ``prompt_version`` (``v1``): prompt version for every agent; ``prompt_versions``
  (``{agent: version}``) overrides per agent.
* ``temperature`` (0.7), ``search_k`` (4), ``read_k`` (2), ``evidence_k`` (4),
  ``min_support`` (0.6: IDF-weighted share of the question's words the topics read
  must contain, else decline), ``verifier_llm`` (``auto``: ask the model only when
  its yes/no can flip the escalation decision; ``true``: always; ``false``: never),
  ``search_question`` (true: search the question itself besides the model's queries).
* ``escalation``: ``confidence_threshold`` (0.5), ``approval_sla_s`` (3600).
* ``budget``: ``max_tokens`` (6000), ``max_steps`` (40), ``max_cost_usd``.
* ``tool_retry``: ``max_attempts`` (3), ``base_delay_s``, ``max_delay_s``,
  ``max_total_s``; ``breaker``: ``failure_threshold`` (3), ``cooldown_s`` (5).
* ``checkpoint_dir``: folder of the SQLite checkpoint database (unset: in memory).

Fault injection is configured by the suite's ``faults:`` (see
:mod:`evalkit.reference.faults`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from evalkit.errors import BudgetExceeded, ContractError, ModelError, TransientError
from evalkit.reference.agents import Researcher, Verifier, Writer, verifier_mode
from evalkit.reference.budgets import BudgetLimits, RunBudget
from evalkit.reference.checkpoint import CheckpointStore, run_key
from evalkit.reference.contracts import (
    READ_DOC_VERSION,
    SEARCH_DOCS_VERSION,
    DraftAnswer,
    ResearchNotes,
    Verdict,
)
from evalkit.reference.corpus import Corpus, default_corpus
from evalkit.reference.escalation import (
    ApprovalQueue,
    EscalationPolicy,
    RiskTier,
    assess_question,
)
from evalkit.reference.faults import FaultConfig, FaultInjector
from evalkit.reference.resilience import breaker_config_from, retry_policy_from
from evalkit.reference.runtime import AGENTS, PipelineRun, StepFailed
from evalkit.reference.tools import ToolExecutor

DECLINE_TEXT = "I could not find an answer to this in the Python documentation topics."
REFUSAL_TEXT = "I can't help with that request. I answer questions about Python only."


def _question(case: Any) -> str:
    data = case.input
    if isinstance(data, Mapping):
        value = data.get("question")
        if isinstance(value, str):
            return value
    if isinstance(data, str):
        return data
    raise ContractError("case input needs a 'question' string", step="input", field="question")


def _prompt_versions(params: Mapping[str, Any]) -> dict[str, str]:
    default = str(params.get("prompt_version", "v1"))
    overrides = params.get("prompt_versions") or {}
    return {agent: str(overrides.get(agent, default)) for agent in AGENTS}


def start_run(case: Any, ctx: Any, *, corpus: Corpus | None = None,
              store: CheckpointStore | None = None) -> PipelineRun:
    """Build the run state for *case*: checkpoint, budget, tools, prompts."""
    params: Mapping[str, Any] = ctx.params
    verifier_mode(params)  # reject a bad setting before any work is done
    corpus = corpus or default_corpus()
    store = store or CheckpointStore.from_params(params)
    key = run_key(params, case.id, ctx.trial, ctx.seed, getattr(ctx, "arm", "main"))
    attempt, resumed = store.begin(key, case_id=case.id, trial=ctx.trial,
                                   arm=getattr(ctx, "arm", "main"))
    budget = RunBudget(BudgetLimits.from_params(params))
    faults = FaultInjector(FaultConfig.parse(ctx.faults), seed=int(ctx.seed))
    tools = ToolExecutor(
        corpus=corpus, tracer=ctx.tracer, faults=faults, budget=budget,
        retry=retry_policy_from(params), breaker_config=breaker_config_from(params),
        rng=ctx.rng,
    )
    run = PipelineRun(
        ctx=ctx, corpus=corpus, store=store, key=key, attempt=attempt, budget=budget,
        tools=tools, prompt_versions=_prompt_versions(params),
        temperature=float(params.get("temperature", 0.7)),
        completed=store.load(key) if resumed else {},
    )
    tools.on_call = lambda tool, ok: store.log_call(key, attempt, run.current_step, "tool",
                                                    tool, ok)
    ctx.record_version("corpus.pydoc_topics", corpus.version, corpus.hash)
    ctx.record_version("tool.search_docs", SEARCH_DOCS_VERSION)
    ctx.record_version("tool.read_doc", READ_DOC_VERSION)
    return run


async def answer_question(case: Any, ctx: Any) -> dict[str, Any]:
    """Workflow target: answer ``case.input.question`` with cited evidence.

    Returns a JSON-ready dict: ``answer``, ``citations``, ``confidence``, ``outcome``
    (``answered`` | ``declined`` | ``escalated`` | ``budget_exceeded`` | ``failed``),
    ``degraded``, ``verdict``, ``retrieved``, ``steps`` and diagnostics.
    """
    question = _question(case)
    run = start_run(case, ctx)
    out: dict[str, Any] = {
        "question": question, "answer": "", "citations": [], "confidence": 0.0,
        "outcome": "failed", "degraded": False, "verdict": None, "retrieved": [],
        "queries": [], "risk": None, "escalation": None, "error": None,
    }
    try:
        try:
            await _answer(run, question, out)
        except BudgetExceeded as exc:
            out["outcome"] = "budget_exceeded"
            out["error"] = {"step": run.current_step, "type": "BudgetExceeded",
                            "budget": exc.budget, "limit": exc.limit, "used": exc.used,
                            "message": str(exc)}
            ctx.set_outcome("budget_exceeded", budget=exc.budget, limit=exc.limit,
                            used=exc.used, step=run.current_step)
        except (ContractError, StepFailed) as exc:
            _failed(run, out, exc, exc.step)
        except TransientError:
            # A dependency outage, not a result of the pipeline: the run stays
            # unfinished, so the runner's retry of the trial resumes it.
            raise
        except ModelError as exc:
            _failed(run, out, exc, run.current_step)
        run.store.finish(run.key)
    finally:
        run.store.close()
    out["steps"] = run.step_log
    out["trajectory"] = [e["tool"] for e in run.tools.log if e["event"] != "retry"]
    out["tool_log"] = run.tools.log
    out["usage"] = run.budget.snapshot()
    out["prompt_versions"] = dict(run.prompt_versions)
    out["resumed"] = bool(run.completed)
    return out


def _failed(run: PipelineRun, out: dict[str, Any], exc: Exception, step: str) -> None:
    error_type = getattr(exc, "error_type", type(exc).__name__)
    out["outcome"] = "failed"
    out["error"] = {"step": step, "type": error_type,
                    "field": getattr(exc, "field", None), "message": str(exc)}
    run.ctx.set_outcome("failed", step=step, error_type=error_type)


async def _answer(run: PipelineRun, question: str, out: dict[str, Any]) -> None:
    ctx = run.ctx
    policy = EscalationPolicy.from_params(ctx.params)

    # 1. Guard: the question's own risk tier. High risk halts before any tool or model.
    with ctx.tracer.span("guard", attributes={"evalkit.step": "guard"}) as span:
        risk = assess_question(question)
        span.set("evalkit.risk.tier", risk.tier.value)
        out["risk"] = risk.to_dict()
    if risk.tier is RiskTier.HIGH:
        with ctx.tracer.span("escalation halt", attributes={
            "evalkit.risk.tier": "high", "evalkit.escalation.action": "halt",
            "evalkit.escalation.reasons": list(risk.reasons),
        }) as span:
            span.add_event("alert", reasons=list(risk.reasons))
        out.update(outcome="declined", answer=REFUSAL_TEXT,
                   escalation={"tier": "high", "action": "halted", "alert": True,
                               "reasons": list(risk.reasons)})
        ctx.set_outcome("declined", reason="prompt_injection", risk="high")
        return

    # 2. Researcher.
    researcher = Researcher(run)
    with ctx.tracer.agent("researcher", **_agent_attrs(run, "researcher")):
        notes = await researcher.research(question)
    out.update(retrieved=notes.retrieved, queries=notes.queries, degraded=notes.degraded,
               support=notes.support)
    min_support = float(ctx.params.get("min_support", 0.6))
    if not notes.claims or notes.support < min_support:
        out.update(outcome="declined", answer=DECLINE_TEXT,
                   decline_reason=f"evidence covers {notes.support:.0%} of the question "
                                  f"(needs {min_support:.0%})")
        ctx.set_outcome("declined", reason="insufficient_evidence", support=notes.support)
        return

    # 3. Writer.
    writer = Writer(run)
    with ctx.tracer.agent("writer", **_agent_attrs(run, "writer")):
        draft_data = await run.step("write", lambda: _dump(writer.write(notes)))
        draft = DraftAnswer.model_validate(draft_data)

    # 4. Verifier.
    verifier = Verifier(run)
    with ctx.tracer.agent("verifier", **_agent_attrs(run, "verifier")):
        verdict_data = await run.step(
            "verify", lambda: _dump(verifier.verify(notes, draft, researcher.docs))
        )
        verdict = Verdict.model_validate(verdict_data)
    out.update(citations=draft.citations, confidence=verdict.confidence,
               verdict=verdict.model_dump())

    # 5. Escalation by confidence: low → act; medium → queue for approval.
    decision = policy.assess_answer(verdict.confidence)
    if decision.tier is RiskTier.LOW:
        with ctx.tracer.span("escalation act", attributes={
            "evalkit.risk.tier": "low", "evalkit.escalation.action": "act",
        }):
            pass
        out.update(outcome="answered", answer=draft.answer)
        ctx.set_outcome("answered", confidence=verdict.confidence)
        return
    queue = ApprovalQueue(run.store.connection)
    ticket = queue.enqueue(
        run_key=run.key, case_id=str(getattr(ctx, "case_id", "")), tier=decision.tier,
        reason="; ".join(decision.reasons),
        payload={"question": question, "draft": draft.model_dump(),
                 "verdict": verdict.model_dump()},
        sla_s=policy.approval_sla_s,
    )
    with ctx.tracer.span("escalation queue", attributes={
        "evalkit.risk.tier": decision.tier.value, "evalkit.escalation.action": "queue",
        "evalkit.escalation.ticket": ticket["ticket"],
        "evalkit.escalation.sla_s": policy.approval_sla_s,
    }):
        pass
    out.update(outcome="escalated", draft=draft.model_dump(),
               escalation={**ticket, "action": "queued_for_approval"})
    ctx.set_outcome("escalated", tier=decision.tier.value, reason="; ".join(decision.reasons),
                    confidence=verdict.confidence, ticket=ticket["ticket"])


async def _dump(pending: Any) -> dict[str, Any]:
    model = await pending
    data: dict[str, Any] = model.model_dump()
    return data


def _agent_attrs(run: PipelineRun, agent: str) -> dict[str, Any]:
    prompt = run.prompt(agent)
    return {**prompt.span_attributes, "evalkit.step": agent,
            "evalkit.resumed": agent in run.completed or (
                agent == "researcher" and "plan" in run.completed)}


async def research(case: Any, ctx: Any) -> dict[str, Any]:
    """Component target: the Researcher alone (queries, search, read, evidence).

    Returns ``queries``, ``ranking`` (fused search ranking), ``retrieved`` (docs
    read), ``claims``, ``support`` and ``degraded``.
    """
    question = _question(case)
    run = start_run(case, ctx)
    researcher = Researcher(run)
    out: dict[str, Any] = {"question": question, "error": None}
    try:
        await _research(run, researcher, question, out)
        run.store.finish(run.key)
    finally:
        run.store.close()
    out["steps"] = run.step_log
    out["trajectory"] = [e["tool"] for e in run.tools.log if e["event"] != "retry"]
    out["usage"] = run.budget.snapshot()
    return out


async def _research(
    run: PipelineRun, researcher: Researcher, question: str, out: dict[str, Any]
) -> None:
    ctx = run.ctx
    try:
        with ctx.tracer.agent("researcher", **_agent_attrs(run, "researcher")):
            notes: ResearchNotes = await researcher.research(question)
        out.update(
            queries=notes.queries, ranking=list(researcher.searched.get("ranking", []))[:10],
            retrieved=notes.retrieved, claims=[c.model_dump() for c in notes.claims],
            support=notes.support, degraded=notes.degraded, outcome="ok",
        )
    except BudgetExceeded as exc:
        out.update(outcome="budget_exceeded", error={"type": "BudgetExceeded",
                                                     "message": str(exc)})
        ctx.set_outcome("budget_exceeded", budget=exc.budget)
    except (ContractError, StepFailed) as exc:
        out.update(outcome="failed", error={"step": exc.step, "type": type(exc).__name__,
                                            "message": str(exc)})
        ctx.set_outcome("failed", step=exc.step)
