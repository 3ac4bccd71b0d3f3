"""OpenTelemetry spans for trials, LLM calls and tool calls.

Spans are real OpenTelemetry SDK spans that follow the GenAI semantic conventions
(``gen_ai.operation.name`` = ``chat`` / ``execute_tool`` / ``invoke_agent``). A span
processor routes each finished span to the collector of the trial it belongs to (by
trace id), so every trial ends with its own list of span rows, ready for
``spans.parquet``; an OTLP exporter can be added beside it.

A target that opens no spans pays nothing: the trial's root context is built on the
first span it opens.
"""

from __future__ import annotations

import contextvars
import json
import random
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace as otel_trace
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.trace import SpanKind, Status, StatusCode

OP = "gen_ai.operation.name"
TOOL_NAME = "gen_ai.tool.name"
TOOL_ARGS = "gen_ai.tool.call.arguments"
TOOL_RESULT = "gen_ai.tool.call.result"
REQUEST_MODEL = "gen_ai.request.model"
INPUT_TOKENS = "gen_ai.usage.input_tokens"
OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
ERROR_TYPE = "error.type"
COST = "evalkit.cost_usd"
CACHE_HIT = "evalkit.cache_hit"

_MAX_ATTR_CHARS = 8192
_CURRENT: contextvars.ContextVar[TrialTracer | None] = contextvars.ContextVar(
    "evalkit_current_tracer", default=None
)


class _TrialRouter(SpanProcessor):
    """Appends each finished span's row to the list registered for its trace id."""

    def __init__(self) -> None:
        self.sinks: dict[int, list[dict[str, Any]]] = {}

    def on_end(self, span: ReadableSpan) -> None:
        ctx = span.context
        if ctx is None:
            return
        sink = self.sinks.get(ctx.trace_id)
        if sink is not None:
            sink.append(span_to_row(span))


@dataclass
class _Provider:
    provider: TracerProvider
    router: _TrialRouter
    tracer: otel_trace.Tracer
    exporters: list[str] = field(default_factory=list)


_PROVIDER: _Provider | None = None


def _provider() -> _Provider:
    global _PROVIDER
    if _PROVIDER is None:
        from opentelemetry.sdk.resources import Resource

        provider = TracerProvider(resource=Resource.create({"service.name": "evalkit"}))
        router = _TrialRouter()
        provider.add_span_processor(router)
        _PROVIDER = _Provider(provider, router, provider.get_tracer("evalkit"))
    return _PROVIDER


def configure_otlp_export(endpoint: str) -> None:
    """Also export every span to an OTLP/HTTP collector at *endpoint*.

    Needs the ``otlp`` extra (``opentelemetry-exporter-otlp-proto-http``).
    """
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    prov = _provider()
    if endpoint in prov.exporters:
        return
    url = endpoint.rstrip("/")
    if not url.endswith("/v1/traces"):
        url += "/v1/traces"
    prov.provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=url)))
    prov.exporters.append(endpoint)


def flush_export(timeout_ms: int = 10_000) -> None:
    """Push spans still buffered by exporters (call at the end of a run)."""
    if _PROVIDER is not None and _PROVIDER.exporters:
        _PROVIDER.provider.force_flush(timeout_ms)


def _jsonable(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= _MAX_ATTR_CHARS else text[: _MAX_ATTR_CHARS - 1] + "…"


def span_to_row(span: ReadableSpan) -> dict[str, Any]:
    """Flatten a finished span into a ``spans.parquet`` row (without run keys)."""
    attrs: Mapping[str, Any] = span.attributes or {}
    ctx = span.context
    parent = span.parent
    start = (span.start_time or 0) / 1e9
    end = (span.end_time or span.start_time or 0) / 1e9
    status = span.status.status_code.name
    error_type = attrs.get(ERROR_TYPE)
    events = [
        {"name": e.name, "time": e.timestamp / 1e9, "attributes": dict(e.attributes or {})}
        for e in span.events
    ]
    return {
        "trace_id": f"{ctx.trace_id:032x}" if ctx else None,
        "span_id": f"{ctx.span_id:016x}" if ctx else None,
        "parent_span_id": f"{parent.span_id:016x}" if parent else None,
        "name": span.name,
        "operation": attrs.get(OP),
        "tool_name": attrs.get(TOOL_NAME),
        "model": attrs.get(REQUEST_MODEL),
        "start_time": start,
        "end_time": end,
        "duration_s": max(0.0, end - start),
        "status": status,
        "error_type": None if error_type is None else str(error_type),
        "input_tokens": int(attrs.get(INPUT_TOKENS, 0) or 0),
        "output_tokens": int(attrs.get(OUTPUT_TOKENS, 0) or 0),
        "cost_usd": float(attrs.get(COST, 0.0) or 0.0),
        "cache_hit": attrs.get(CACHE_HIT),
        "attributes": json.dumps(dict(attrs), default=str, ensure_ascii=False),
        "events": json.dumps(events, default=str, ensure_ascii=False) if events else None,
    }


class ActiveSpan:
    """A span being recorded; returned by the ``TrialTracer`` context managers."""

    __slots__ = ("_span",)

    def __init__(self, span: otel_trace.Span) -> None:
        self._span = span

    @property
    def otel_span(self) -> otel_trace.Span:
        """The underlying OpenTelemetry span."""
        return self._span

    def set(self, key: str, value: Any) -> None:
        """Set one attribute (non-primitive values are stored as JSON text)."""
        if not isinstance(value, str | bool | int | float):
            value = _jsonable(value)
        self._span.set_attribute(key, value)

    def record_usage(
        self,
        *,
        input_tokens: int = 0,
        output_tokens: int = 0,
        cost_usd: float | None = None,
    ) -> None:
        """Record token usage (and cost) of an LLM call."""
        self._span.set_attribute(INPUT_TOKENS, int(input_tokens))
        self._span.set_attribute(OUTPUT_TOKENS, int(output_tokens))
        if cost_usd is not None:
            self._span.set_attribute(COST, float(cost_usd))

    def set_result(self, result: Any) -> None:
        """Record a tool call's result (JSON, truncated to 8 KiB)."""
        self._span.set_attribute(TOOL_RESULT, _jsonable(result))

    def set_error(self, error_type: str, message: str = "") -> None:
        """Mark the span as failed without raising (e.g. a structured tool error)."""
        self._span.set_attribute(ERROR_TYPE, error_type)
        self._span.set_status(Status(StatusCode.ERROR, message or error_type))

    def add_event(self, name: str, **attributes: Any) -> None:
        """Record a point-in-time event such as a retry or a circuit-breaker trip."""
        clean = {
            k: v if isinstance(v, str | bool | int | float) else _jsonable(v)
            for k, v in attributes.items()
        }
        self._span.add_event(name, clean)


class TrialTracer:
    """Opens spans for one trial and collects them when they end.

    Example::

        async def target(case, ctx):
            with ctx.tracer.tool("search_docs", arguments={"query": q}) as span:
                hits = search(q)
                span.set_result(hits)
    """

    __slots__ = ("_base", "_base_attrs", "_root_ctx", "_trace_id", "rows")

    def __init__(
        self,
        *,
        base_attributes: Mapping[str, Any] | None = None,
        case_id: str | None = None,
        trial: int | None = None,
        arm: str | None = None,
    ) -> None:
        self.rows: list[dict[str, Any]] = []
        self._trace_id = 0
        self._root_ctx: otel_context.Context | None = None
        self._base_attrs: dict[str, Any] | None = dict(base_attributes) if base_attributes else None
        # kept as a tuple; turned into span attributes only if a span is opened
        self._base = (case_id, trial, arm)

    def _attributes(self) -> dict[str, Any]:
        if self._base_attrs is None:
            case_id, trial, arm = self._base
            self._base_attrs = {
                k: v
                for k, v in (
                    ("evalkit.case_id", case_id),
                    ("evalkit.trial", trial),
                    ("evalkit.arm", arm),
                )
                if v is not None
            }
        return self._base_attrs

    @property
    def trace_id(self) -> str | None:
        """Hex trace id of this trial, once a span has been opened."""
        return f"{self._trace_id:032x}" if self._trace_id else None

    def _parent(self) -> otel_context.Context:
        current = otel_context.get_current()
        span_ctx = otel_trace.get_current_span(current).get_span_context()
        if self._trace_id and span_ctx.trace_id == self._trace_id:
            return current
        if self._root_ctx is None:
            prov = _provider()
            rng = random.getrandbits
            self._trace_id = rng(128) or 1
            root = otel_trace.NonRecordingSpan(
                otel_trace.SpanContext(
                    trace_id=self._trace_id,
                    span_id=rng(64) or 1,
                    is_remote=False,
                    trace_flags=otel_trace.TraceFlags(otel_trace.TraceFlags.SAMPLED),
                )
            )
            self._root_ctx = otel_trace.set_span_in_context(root, otel_context.Context())
            prov.router.sinks[self._trace_id] = self.rows
        return self._root_ctx

    @contextmanager
    def span(
        self,
        name: str,
        *,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: Mapping[str, Any] | None = None,
    ) -> Iterator[ActiveSpan]:
        """Open a span; an exception escaping it marks the span ERROR and re-raises."""
        tracer = _provider().tracer
        attrs = {**self._attributes(), **(attributes or {})}
        clean = {
            k: v if isinstance(v, str | bool | int | float) else _jsonable(v)
            for k, v in attrs.items()
            if v is not None
        }
        with tracer.start_as_current_span(
            name,
            context=self._parent(),
            kind=kind,
            attributes=clean,
            record_exception=False,
            set_status_on_exception=False,
        ) as otel_span:
            active = ActiveSpan(otel_span)
            try:
                yield active
            except BaseException as exc:
                otel_span.set_attribute(ERROR_TYPE, type(exc).__name__)
                otel_span.set_status(Status(StatusCode.ERROR, str(exc)[:500]))
                otel_span.record_exception(exc)
                raise

    def tool(self, name: str, *, arguments: Any = None, **attributes: Any) -> Any:
        """Open an ``execute_tool`` span for a tool call named *name*."""
        attrs: dict[str, Any] = {OP: "execute_tool", TOOL_NAME: name, **attributes}
        if arguments is not None:
            attrs[TOOL_ARGS] = _jsonable(arguments)
        return self.span(f"execute_tool {name}", kind=SpanKind.CLIENT, attributes=attrs)

    def llm(self, model: str, *, operation: str = "chat", **attributes: Any) -> Any:
        """Open a ``chat`` span for an LLM call to *model*."""
        attrs: dict[str, Any] = {OP: operation, REQUEST_MODEL: model, **attributes}
        return self.span(f"{operation} {model}", kind=SpanKind.CLIENT, attributes=attrs)

    def agent(self, name: str, **attributes: Any) -> Any:
        """Open an ``invoke_agent`` span for one agent/step of a pipeline."""
        attrs: dict[str, Any] = {OP: "invoke_agent", "gen_ai.agent.name": name, **attributes}
        return self.span(f"invoke_agent {name}", attributes=attrs)

    def close(self) -> list[dict[str, Any]]:
        """Stop routing spans to this trial; return the rows collected."""
        if self._trace_id and _PROVIDER is not None:
            _PROVIDER.router.sinks.pop(self._trace_id, None)
        return self.rows


def current_tracer() -> TrialTracer | None:
    """The tracer of the trial running in this context (None outside a trial)."""
    return _CURRENT.get()


def set_current_tracer(tracer: TrialTracer | None) -> contextvars.Token[TrialTracer | None]:
    """Make *tracer* current for this context; returns the token to reset it."""
    return _CURRENT.set(tracer)


def reset_current_tracer(token: contextvars.Token[TrialTracer | None]) -> None:
    """Undo :func:`set_current_tracer`."""
    _CURRENT.reset(token)


def count_tool_calls(rows: list[dict[str, Any]]) -> tuple[int, int]:
    """``(tool_calls, tool_errors)`` among span rows (errors = status ERROR)."""
    calls = errors = 0
    for row in rows:
        if row["operation"] == "execute_tool":
            calls += 1
            if row["status"] == "ERROR":
                errors += 1
    return calls, errors
