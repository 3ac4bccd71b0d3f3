"""The client interface, its result, and the call flow every backend shares.

One call: take seed and trial from the running trial, open an LLM span, look in the
response cache, ask the backend on a miss, price the usage, validate structured output,
and record it all on the span.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from evalkit.errors import ModelError
from evalkit.model._cache import CachedResponse, ResponseCache, cache_key
from evalkit.model._prices import PriceTable

if TYPE_CHECKING:
    from pydantic import BaseModel

RESPONSE_MODEL = "gen_ai.response.model"
REQUEST_TEMPERATURE = "gen_ai.request.temperature"
REQUEST_MAX_TOKENS = "gen_ai.request.max_tokens"
REQUEST_SEED = "gen_ai.request.seed"
REQUEST_STOP = "gen_ai.request.stop_sequences"
FINISH_REASONS = "gen_ai.response.finish_reasons"
PROVIDER = "gen_ai.provider.name"
LATENCY = "evalkit.latency_s"
TRIAL = "evalkit.trial"
CLIENT = "evalkit.model_client"
OUTPUT_SCHEMA = "evalkit.output_schema"
CACHE_HIT = "evalkit.cache_hit"  # == evalkit.trace.CACHE_HIT, without importing OTel

#: llama.cpp takes a uint32 seed and reads 0xFFFFFFFF as "random"; trial seeds are
#: 63-bit. Every backend gets the same reduced seed so results line up across them.
_SEED_MODULUS = 0xFFFFFFFF


class StructuredOutputError(ModelError):
    """The model's output does not validate against the requested schema.

    Attributes:
        raw: the text the model produced.
        schema_name: the pydantic model it was checked against.
    """

    def __init__(
        self, message: str, *, model: str | None = None, raw: str = "", schema_name: str = ""
    ) -> None:
        self.raw = raw
        self.schema_name = schema_name
        super().__init__(message, model=model)


@dataclass(frozen=True, slots=True)
class ChatResult:
    """One chat completion.

    Attributes:
        text: raw assistant text.
        parsed: the validated pydantic instance when a ``schema`` was given, else None.
        model: model name as reported by the backend.
        input_tokens: prompt tokens.
        output_tokens: completion tokens.
        latency_s: wall time of this call (a cache lookup when ``cached``).
        cost_usd: list-price cost of the tokens (zero for local models).
        cached: served from the response cache.
        finish_reason: ``stop``, ``length``, … as reported.
    """

    text: str
    parsed: Any | None
    model: str
    input_tokens: int
    output_tokens: int
    latency_s: float
    cost_usd: float
    cached: bool
    finish_reason: str | None


@runtime_checkable
class ModelClient(Protocol):
    """What targets, judges and the reference pipeline call."""

    name: str

    async def chat(
        self,
        messages: list[dict[str, str]],
        *,
        schema: type[BaseModel] | None = None,
        temperature: float = 0.7,
        max_tokens: int = 256,
        seed: int | None = None,
        trial: int | None = None,
        stop: list[str] | None = None,
        span_attributes: Mapping[str, Any] | None = None,
    ) -> ChatResult:
        """Send *messages*; with *schema*, constrain and validate the reply."""
        ...


class SpanRecorder(Protocol):
    """The part of :class:`evalkit.trace.ActiveSpan` the clients use."""

    def set(self, key: str, value: Any) -> None: ...

    def record_usage(
        self, *, input_tokens: int = 0, output_tokens: int = 0, cost_usd: float | None = None
    ) -> None: ...

    def set_error(self, error_type: str, message: str = "") -> None: ...

    def add_event(self, name: str, **attributes: Any) -> None: ...


class _NoSpan:
    """Stands in for a span outside a trial: records nothing."""

    def set(self, key: str, value: Any) -> None:
        pass

    def record_usage(
        self, *, input_tokens: int = 0, output_tokens: int = 0, cost_usd: float | None = None
    ) -> None:
        pass

    def set_error(self, error_type: str, message: str = "") -> None:
        pass

    def add_event(self, name: str, **attributes: Any) -> None:
        pass


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """One call's inputs after defaults are resolved."""

    messages: list[dict[str, str]]
    schema: type[BaseModel] | None
    schema_json: dict[str, Any] | None
    temperature: float
    max_tokens: int
    seed: int | None
    trial: int | None
    stop: list[str] | None


def effective_seed(seed: int) -> int:
    """The seed sent to backends: *seed* reduced to llama.cpp's usable uint32 range."""
    return seed % _SEED_MODULUS


def _check_messages(messages: Sequence[Mapping[str, str]]) -> list[dict[str, str]]:
    if isinstance(messages, str | bytes) or not isinstance(messages, Sequence) or not messages:
        raise ValueError("messages must be a non-empty list of {'role': ..., 'content': ...}")
    clean: list[dict[str, str]] = []
    for i, message in enumerate(messages):
        if not isinstance(message, Mapping):
            raise ValueError(f"messages[{i}] must be a mapping, got {type(message).__name__}")
        role, content = message.get("role"), message.get("content")
        if not isinstance(role, str) or not isinstance(content, str):
            raise ValueError(f"messages[{i}] needs string 'role' and 'content'")
        clean.append({str(k): str(v) for k, v in message.items()})
    return clean


def _json_candidate(text: str) -> str | None:
    """The outermost ``{...}`` of *text* (unconstrained models like code fences)."""
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        return None
    return text[start : end + 1]


def validate_structured(
    schema: type[BaseModel], text: str, *, model: str | None = None
) -> BaseModel:
    """Validate *text* as JSON for *schema*.

    Raises:
        StructuredOutputError: not JSON, or not valid for the schema; ``.raw`` is *text*.
    """
    from pydantic import ValidationError

    try:
        return schema.model_validate_json(text)
    except ValidationError as first:
        candidate = _json_candidate(text)
        if candidate is not None and candidate != text:
            try:
                return schema.model_validate_json(candidate)
            except ValidationError:
                pass
        problem = first.errors(include_url=False)[0]
        where = ".".join(str(p) for p in problem.get("loc", ())) or "(root)"
        raise StructuredOutputError(
            f"output does not match {schema.__name__}: {where}: {problem.get('msg')}; "
            f"raw output starts {text[:120]!r}",
            model=model, raw=text, schema_name=schema.__name__,
        ) from None


@contextmanager
def _span_for(model: str, attributes: dict[str, Any]) -> Iterator[SpanRecorder]:
    from evalkit.runner._context import current_trial
    from evalkit.trace import current_tracer

    ctx = current_trial()
    tracer = ctx.tracer if ctx is not None else current_tracer()
    if tracer is None:
        yield _NoSpan()
        return
    with tracer.llm(model, **attributes) as span:
        yield span


class ChatClientBase(ABC):
    """Shared call flow; a backend implements :meth:`_complete` only.

    Attributes:
        name: client name, e.g. ``local:SmolLM2-135M-Instruct``.
        model: the model name sent to the backend.
        provider: value of ``gen_ai.provider.name``.
    """

    provider: str = ""

    def __init__(
        self,
        *,
        name: str,
        model: str,
        identity: str,
        endpoint: str,
        prices: PriceTable,
        cache: ResponseCache | None = None,
    ) -> None:
        self.name = name
        self.model = model
        self._identity = identity
        self._endpoint = endpoint
        self._prices = prices
        self._cache = cache if cache is not None and cache.readable else None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"

    @property
    def cache(self) -> ResponseCache | None:
        """The response cache, or None when caching is off."""
        return self._cache

    def _span_attributes(self) -> dict[str, Any]:
        """Backend-specific span attributes (never credentials)."""
        return {}

    @abstractmethod
    async def _complete(self, request: ChatRequest, span: SpanRecorder) -> CachedResponse:
        """Ask the backend; raise ModelError / TransientError on failure."""

    def _cost(self, response: CachedResponse) -> float:
        names = (self.name, self.model, response.model)
        return self._prices.cost(names, response.input_tokens, response.output_tokens)

    async def chat(
        self,
        messages: Sequence[Mapping[str, str]],
        *,
        schema: type[BaseModel] | None = None,
        temperature: float = 0.7,
        max_tokens: int = 256,
        seed: int | None = None,
        trial: int | None = None,
        stop: list[str] | None = None,
        span_attributes: Mapping[str, Any] | None = None,
    ) -> ChatResult:
        """Send a chat completion request.

        ``seed`` and ``trial`` default to those of the running trial. With ``schema``,
        decoding is constrained to its JSON schema where the backend can, and the reply
        is validated either way. Identical calls within one trial share the trial's
        seed (and cache entry) and so get the same reply: pass distinct ``seed`` values
        to sample one prompt several times.

        Example::

            result = await client.chat(
                [{"role": "user", "content": "Name a colour."}], max_tokens=16
            )
            print(result.text, result.output_tokens)

        Raises:
            StructuredOutputError: the reply does not validate against *schema*.
            TransientError: timeouts, 429 or 5xx that persisted through the retries.
            ModelError: any other failure of the backend.
            ValueError: malformed *messages*, negative temperature, ``max_tokens < 1``.
        """
        from evalkit.runner._context import current_trial

        clean = _check_messages(messages)
        if temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {temperature}")
        if max_tokens < 1:
            raise ValueError(f"max_tokens must be >= 1, got {max_tokens}")
        ctx = current_trial()
        if ctx is not None:
            trial = ctx.trial if trial is None else trial
            seed = ctx.seed if seed is None else seed
        request = ChatRequest(
            messages=clean,
            schema=schema,
            schema_json=schema.model_json_schema() if schema is not None else None,
            temperature=float(temperature),
            max_tokens=int(max_tokens),
            seed=None if seed is None else effective_seed(seed),
            trial=trial,
            stop=list(stop) if stop else None,
        )
        attributes: dict[str, Any] = {
            PROVIDER: self.provider,
            CLIENT: self.name,
            REQUEST_TEMPERATURE: request.temperature,
            REQUEST_MAX_TOKENS: request.max_tokens,
            REQUEST_SEED: request.seed,
            TRIAL: request.trial,
            REQUEST_STOP: request.stop,
            OUTPUT_SCHEMA: schema.__name__ if schema is not None else None,
            **self._span_attributes(),
            **(span_attributes or {}),
        }
        with _span_for(self.model, attributes) as span:
            return await self._chat_in_span(request, span)

    async def _chat_in_span(self, request: ChatRequest, span: SpanRecorder) -> ChatResult:
        start = time.perf_counter()
        key = None
        response: CachedResponse | None = None
        if self._cache is not None:
            key = cache_key(
                model=self._identity, endpoint=self._endpoint,
                temperature=request.temperature, max_tokens=request.max_tokens,
                seed=request.seed, stop=request.stop, messages=request.messages,
                schema=request.schema_json, trial=request.trial,
            )
            response = await self._cache_get(key, span)
        cached = response is not None
        if response is None:
            response = await self._complete(request, span)
            if key is not None and self._cache is not None and self._cache.writable:
                await self._cache_put(key, response, span)
        latency = time.perf_counter() - start
        cost = self._cost(response)
        span.set(RESPONSE_MODEL, response.model)
        span.set(FINISH_REASONS, [response.finish_reason] if response.finish_reason else [])
        span.set(CACHE_HIT, cached)
        span.set(LATENCY, round(latency, 6))
        if cached:
            span.set("evalkit.cached_latency_s", response.latency_s)
        span.record_usage(
            input_tokens=response.input_tokens, output_tokens=response.output_tokens,
            cost_usd=cost,
        )
        parsed = None
        if request.schema is not None:
            parsed = validate_structured(request.schema, response.text, model=self.name)
        return ChatResult(
            text=response.text, parsed=parsed, model=response.model,
            input_tokens=response.input_tokens, output_tokens=response.output_tokens,
            latency_s=latency, cost_usd=cost, cached=cached,
            finish_reason=response.finish_reason,
        )

    async def _cache_get(self, key: str, span: SpanRecorder) -> CachedResponse | None:
        # A broken cache must not fail the trial: it is only an optimisation.
        assert self._cache is not None
        try:
            return await asyncio.to_thread(self._cache.get, key)
        except (sqlite3.Error, OSError, ValueError, TypeError) as exc:
            span.add_event("cache_error", operation="get", error=str(exc)[:200])
            return None

    async def _cache_put(self, key: str, response: CachedResponse, span: SpanRecorder) -> None:
        assert self._cache is not None
        try:
            await asyncio.to_thread(self._cache.put, key, response)
        except (sqlite3.Error, OSError) as exc:
            span.add_event("cache_error", operation="put", error=str(exc)[:200])


def dumps_schema(schema: Mapping[str, Any]) -> str:
    """Compact, stable JSON text of a schema (for prompts and grammars)."""
    return json.dumps(schema, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
