"""The two tools, ``search_docs`` and ``read_doc``, and the executor that calls them.

Every attempt at a tool call is an ``execute_tool`` span, so tool-error rate and
latency come out of the trace. The executor puts, in front of each tool: a circuit
breaker, a timeout, transient-only retries with backoff and jitter, seeded fault
injection, and validation of the response against the tool's pinned output schema.
When a tool cannot be used it returns a structured :class:`ToolUnavailable` rather
than raising, so the calling agent decides what to do (search degrades to a
fallback; read skips the document).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from evalkit.errors import BudgetExceeded, ContractError
from evalkit.reference.budgets import RunBudget
from evalkit.reference.contracts import (
    READ_DOC_VERSION,
    SEARCH_DOCS_VERSION,
    ReadDocInput,
    ReadDocOutput,
    SearchDocsInput,
    SearchDocsOutput,
    ToolUnavailable,
)
from evalkit.reference.corpus import Corpus, content_terms
from evalkit.reference.faults import Fault, FaultConfig, FaultInjector, drift
from evalkit.reference.resilience import BreakerConfig, BreakerState, CircuitBreaker
from evalkit.runner._retry import RetryPolicy, classify, retry_async
from evalkit.trace import TrialTracer

OutputT = TypeVar("OutputT", bound=BaseModel)


class ToolHTTPError(Exception):
    """A tool's backend answered with an HTTP error status.

    ``status_code`` and ``headers`` are what :func:`evalkit.runner._retry.classify`
    reads: 408/429/5xx are transient, other 4xx are not.
    """

    def __init__(self, status_code: int, message: str = "", retry_after: float | None = None):
        self.status_code = status_code
        self.headers = {"retry-after": f"{retry_after:g}"} if retry_after is not None else {}
        super().__init__(f"HTTP {status_code}: {message or 'tool backend error'}")


class CircuitOpenError(Exception):
    """The tool's breaker refused the call (never retried)."""


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool's name, schema version and pinned input/output schemas."""

    name: str
    version: str
    input_model: type[BaseModel]
    output_model: type[BaseModel]


SEARCH_DOCS = ToolSpec("search_docs", SEARCH_DOCS_VERSION, SearchDocsInput, SearchDocsOutput)
READ_DOC = ToolSpec("read_doc", READ_DOC_VERSION, ReadDocInput, ReadDocOutput)
TOOLS: Mapping[str, ToolSpec] = {t.name: t for t in (SEARCH_DOCS, READ_DOC)}


# -- the tool backends: plain functions producing wire payloads (dicts) -----------------


def search_docs_backend(corpus: Corpus, args: SearchDocsInput) -> dict[str, Any]:
    """Run BM25 and return the wire payload of a ``search_docs`` response."""
    terms = set(content_terms(args.query))
    hits = []
    for doc_id, score in corpus.search(args.query, args.k):
        topic = corpus.get(doc_id)
        hits.append({
            "doc_id": doc_id,
            "title": topic.title,
            "score": score,
            "snippet": _snippet(topic.text, terms),
        })
    return {"schema_version": SEARCH_DOCS_VERSION, "query": args.query, "hits": hits}


def read_doc_backend(corpus: Corpus, args: ReadDocInput) -> dict[str, Any]:
    """Return the wire payload of a ``read_doc`` response (404 for unknown ids)."""
    if args.doc_id not in corpus:
        raise ToolHTTPError(404, f"no topic {args.doc_id!r}")
    topic = corpus.get(args.doc_id)
    return {"schema_version": READ_DOC_VERSION, "doc_id": topic.doc_id, "title": topic.title,
            "text": topic.text}


def _snippet(text: str, terms: set[str], limit: int = 300) -> str:
    from evalkit.reference.corpus import sentences

    best, best_overlap = "", -1
    for sentence in sentences(text)[:200]:
        overlap = len(terms.intersection(content_terms(sentence)))
        if overlap > best_overlap:
            best, best_overlap = sentence, overlap
    best = best or " ".join(text.split())
    return best if len(best) <= limit else best[: limit - 1] + "…"


# -- the executor --------------------------------------------------------------------


@dataclass
class ToolExecutor:
    """Calls tools for one pipeline run with breakers, timeouts, retries and faults."""

    corpus: Corpus
    tracer: TrialTracer
    faults: FaultInjector
    budget: RunBudget = field(default_factory=RunBudget)
    retry: RetryPolicy = field(default_factory=lambda: RetryPolicy(3, 0.02, 0.25, 5.0))
    breaker_config: BreakerConfig = field(default_factory=BreakerConfig)
    rng: random.Random = field(default_factory=random.Random)
    clock: Callable[[], float] | None = None
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep
    on_call: Callable[[str, bool], None] | None = None
    """Called after every executed attempt with (tool, succeeded)."""
    breakers: dict[str, CircuitBreaker] = field(default_factory=dict)
    log: list[dict[str, Any]] = field(default_factory=list)
    """One entry per call: tool, outcome, attempts, error type."""

    def breaker(self, tool: str) -> CircuitBreaker:
        """The breaker of *tool* (created closed on first use)."""
        if tool not in self.breakers:
            kwargs: dict[str, Any] = {"on_transition": self._on_transition}
            if self.clock is not None:
                kwargs["clock"] = self.clock
            self.breakers[tool] = CircuitBreaker(tool, self.breaker_config, **kwargs)
        return self.breakers[tool]

    def _on_transition(self, tool: str, old: BreakerState, new: BreakerState) -> None:
        with self.tracer.span(f"circuit_breaker {tool}", attributes={
            "evalkit.tool.name": tool, "evalkit.breaker.from": old.value,
            "evalkit.breaker.to": new.value,
        }):
            pass

    async def search_docs(self, query: str, k: int = 4) -> SearchDocsOutput | ToolUnavailable:
        """Call ``search_docs``."""
        return await self.call(SEARCH_DOCS, SearchDocsInput(query=query[:200], k=k),
                               SearchDocsOutput)

    async def read_doc(self, doc_id: str) -> ReadDocOutput | ToolUnavailable:
        """Call ``read_doc``."""
        return await self.call(READ_DOC, ReadDocInput(doc_id=doc_id), ReadDocOutput)

    async def call(
        self, spec: ToolSpec, args: BaseModel, output: type[OutputT]
    ) -> OutputT | ToolUnavailable:
        """Call a tool; return its validated output or a :class:`ToolUnavailable`.

        Raises:
            BudgetExceeded: the step budget ran out (never swallowed).
        """
        breaker = self.breaker(spec.name)
        attempts = 0

        async def attempt() -> OutputT:
            nonlocal attempts
            if not breaker.allow():
                raise CircuitOpenError(f"{spec.name} circuit is open")
            attempts += 1
            self.budget.charge_step()
            return await self._attempt(spec, args, output, breaker, attempts)

        def on_retry(n: int, exc: BaseException, delay: float) -> None:
            self.log.append({"tool": spec.name, "event": "retry", "attempt": n,
                             "error_type": type(exc).__name__, "delay_s": round(delay, 4)})

        try:
            result = await retry_async(attempt, self.retry, rng=self.rng, on_retry=on_retry,
                                       sleep=self.sleep)
        except BudgetExceeded:
            raise
        except CircuitOpenError as exc:
            return self._unavailable(spec, "circuit_open", exc, attempts, breaker)
        except ContractError as exc:
            return self._unavailable(spec, "contract_violation", exc, attempts, breaker)
        except Exception as exc:
            reason = "retries_exhausted" if classify(exc).transient else "error"
            return self._unavailable(spec, reason, exc, attempts, breaker)
        self.log.append({"tool": spec.name, "event": "ok", "attempts": attempts})
        return result

    def _unavailable(
        self, spec: ToolSpec, reason: str, exc: BaseException, attempts: int,
        breaker: CircuitBreaker,
    ) -> ToolUnavailable:
        if reason == "circuit_open":
            # The refused call never reached the tool: a span that is not an
            # ``execute_tool`` span, so it does not count as a tool call or error.
            with self.tracer.span(f"short_circuit {spec.name}", attributes={
                "evalkit.tool.name": spec.name, "evalkit.breaker.state": "open",
            }):
                pass
        self.log.append({"tool": spec.name, "event": reason, "attempts": attempts,
                         "error_type": type(exc).__name__})
        return ToolUnavailable(
            tool=spec.name, reason=reason,
            error_type=type(exc).__name__, message=str(exc)[:300],
            retry_after_s=round(breaker.retry_after(), 3) or None,
        )

    async def _attempt(
        self, spec: ToolSpec, args: BaseModel, output: type[OutputT], breaker: CircuitBreaker,
        number: int,
    ) -> OutputT:
        fault = self.faults.draw(spec.name)
        cfg = self.faults.config
        with self.tracer.tool(
            spec.name, arguments=args.model_dump(),
            **{"evalkit.tool.schema": spec.version, "evalkit.tool.attempt": number,
               "evalkit.fault": fault.value if fault else None},
        ) as span:
            try:
                payload = await asyncio.wait_for(self._invoke(spec, args, fault, cfg),
                                                 timeout=cfg.timeout_s)
                if fault is Fault.MALFORMED:
                    payload = drift(payload, self.faults.rng(spec.name, -1 - number))
                result = _validate_response(spec, output, payload)
            except Exception:
                breaker.record_failure()
                if self.on_call is not None:
                    self.on_call(spec.name, False)
                raise
            breaker.record_success()
            if self.on_call is not None:
                self.on_call(spec.name, True)
            span.set_result(_summary(result))
            return result

    async def _invoke(
        self, spec: ToolSpec, args: BaseModel, fault: Fault | None, cfg: FaultConfig
    ) -> dict[str, Any]:
        if fault is Fault.TIMEOUT:
            await asyncio.sleep(cfg.timeout_s * 10)  # cancelled by wait_for
        elif fault is Fault.RATE_LIMIT:
            raise ToolHTTPError(429, "rate limited", retry_after=cfg.retry_after_s)
        elif fault is Fault.SERVER_ERROR:
            raise ToolHTTPError(503, "service unavailable")
        elif fault is Fault.SLOW:
            await asyncio.sleep(cfg.slow_s)
        if spec is SEARCH_DOCS:
            assert isinstance(args, SearchDocsInput)
            return search_docs_backend(self.corpus, args)
        assert isinstance(args, ReadDocInput)
        return read_doc_backend(self.corpus, args)


def _validate_response(spec: ToolSpec, output: type[OutputT], payload: Any) -> OutputT:
    try:
        return output.model_validate(payload)
    except ValidationError as exc:
        err = exc.errors()[0]
        field_name = ".".join(str(p) for p in err["loc"]) or None
        raise ContractError(
            f"response violates {spec.version}: {err['msg']}"
            + (f" at {field_name}" if field_name else ""),
            step=spec.name, field=field_name,
        ) from None


def _summary(result: BaseModel) -> Any:
    if isinstance(result, SearchDocsOutput):
        return {"hits": [[h.doc_id, h.score] for h in result.hits]}
    if isinstance(result, ReadDocOutput):
        return {"doc_id": result.doc_id, "chars": len(result.text)}
    return result.model_dump()
