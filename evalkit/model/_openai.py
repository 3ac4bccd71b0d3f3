"""Chat through the ``openai`` package: OpenAI itself or any OpenAI-compatible server.

The SDK's own retries are off (``max_retries=0``); transient failures (timeouts,
connection errors, 429, 5xx) are mapped to :class:`~evalkit.errors.TransientError`
and retried here with :func:`evalkit.runner._retry.retry_async`, each retry recorded
as a span event. The API key lives only inside the SDK client: it is never put in
spans, results, cache keys, reprs or error messages (those are scrubbed).

Structured output tries, in order and remembering what the server accepted:
``json_schema`` (OpenAI structured outputs, strict), ``json_object`` with a ``schema``
(llama.cpp's server: grammar-constrained), plain ``json_object`` with the schema in
the system prompt. Either way the reply is validated with pydantic afterwards.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import weakref
from collections.abc import AsyncGenerator, Callable
from typing import TYPE_CHECKING, Any, Literal

from evalkit.errors import ModelError, TransientError
from evalkit.model._cache import CachedResponse, ResponseCache
from evalkit.model._client import ChatClientBase, ChatRequest, SpanRecorder, dumps_schema
from evalkit.model._prices import PriceTable
from evalkit.model._spec import ModelSpec, endpoint_label

if TYPE_CHECKING:
    from evalkit.runner._retry import RetryPolicy

OPENAI_BASE_URL = "https://api.openai.com/v1"
DEFAULT_TIMEOUT_S = 60.0
DEFAULT_MAX_ATTEMPTS = 3
PLACEHOLDER_KEY = "not-needed"

FormatMode = Literal["json_schema", "json_object_schema", "json_object"]
_FORMAT_CHAIN: tuple[FormatMode, ...] = ("json_schema", "json_object_schema", "json_object")
_KEY_LIKE = re.compile(r"sk-[A-Za-z0-9_\-*]{4,}")
_SCHEMA_INSTRUCTION = (
    "Reply with a single JSON object and nothing else. It must conform to this JSON schema:\n"
)


class _FormatRejected(ModelError):
    """The server does not accept this ``response_format``; try the next one."""


def scrub(text: str, secret: str | None = None) -> str:
    """*text* with the API key (and anything shaped like an OpenAI key) masked."""
    if secret and len(secret) >= 8 and secret != PLACEHOLDER_KEY:
        text = text.replace(secret, "***")
    return _KEY_LIKE.sub("sk-***", text)


def _retry_after_ms(exc: BaseException) -> float | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    value = headers.get("retry-after-ms") if headers is not None else None
    try:
        return float(value) / 1000.0 if value is not None else None
    except ValueError:
        return None


def map_openai_error(exc: BaseException, *, model: str, secret: str | None = None) -> ModelError:
    """Turn an ``openai`` exception into :class:`ModelError` or :class:`TransientError`.

    Timeouts, connection errors, 408/409/425/429 and 5xx are transient (the same rule
    as the runner's :func:`~evalkit.runner._retry.classify`); ``Retry-After`` (or
    ``retry-after-ms``) is kept. The message never contains the API key.
    """
    from evalkit.runner._retry import classify

    info = classify(exc)
    detail = scrub(str(getattr(exc, "message", None) or exc), secret)
    status = f"HTTP {info.status_code}: " if info.status_code is not None else ""
    message = f"{model}: {type(exc).__name__}: {status}{detail}"[:2000]
    if info.transient:
        retry_after = info.retry_after if info.retry_after is not None else _retry_after_ms(exc)
        return TransientError(message, model=model, retry_after=retry_after,
                              status_code=info.status_code)
    return ModelError(message, model=model)


def _is_format_rejection(exc: BaseException) -> bool:
    status = getattr(exc, "status_code", None)
    if status not in (400, 422, 500):
        return False
    body = getattr(exc, "body", None)
    text = f"{getattr(exc, 'message', '')} {json.dumps(body, default=str) if body else ''}"
    return "response_format" in text or "json_schema" in text


def _strict_schema(schema: type[Any]) -> dict[str, Any]:
    # The SDK's converter follows OpenAI's strict-mode rules (closed objects, every
    # property required, $refs with siblings inlined); it is private, so fall back.
    try:
        from openai.lib._pydantic import to_strict_json_schema
    except ImportError:
        plain: dict[str, Any] = schema.model_json_schema()
        return plain
    return to_strict_json_schema(schema)


def _with_instruction(messages: list[dict[str, str]], schema_json: dict[str, Any]
                      ) -> list[dict[str, str]]:
    note = _SCHEMA_INSTRUCTION + dumps_schema(schema_json)
    if messages and messages[0].get("role") == "system":
        first = dict(messages[0])
        first["content"] = f"{first['content']}\n\n{note}"
        return [first, *messages[1:]]
    return [{"role": "system", "content": note}, *messages]


async def _close_on_loop_shutdown(
    client: Any, *, owned: bool, forget: Callable[[], object]
) -> AsyncGenerator[None, None]:
    try:
        yield
    finally:
        forget()
        if owned:
            await client.close()


class OpenAIChatClient(ChatClientBase):
    """Chat through ``openai.AsyncOpenAI`` against OpenAI or a compatible server."""

    def __init__(
        self,
        spec: ModelSpec,
        *,
        base_url: str,
        api_key_source: Callable[[], str],
        prices: PriceTable,
        cache: ResponseCache | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        retry: RetryPolicy | None = None,
        http_client: Any = None,
    ) -> None:
        endpoint = endpoint_label(base_url)
        super().__init__(name=spec.name, model=spec.model, identity=spec.name,
                         endpoint=endpoint, prices=prices, cache=cache)
        self.provider = "openai" if spec.provider == "openai" else "openai_compatible"
        self.base_url = base_url
        self.timeout_s = timeout_s
        self._retry = retry
        # A callable, not the key: keeps the secret out of vars(), reprs and pickles.
        self._api_key_source = api_key_source
        self._token_param = "max_completion_tokens" if spec.provider == "openai" else "max_tokens"
        self._http_client = http_client
        self._format_start = 0
        self._sdk_clients: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, tuple[Any, AsyncGenerator[None, None]]
        ] = weakref.WeakKeyDictionary()

    @property
    def retry(self) -> RetryPolicy:
        """How transient failures are retried (default: 3 attempts, jittered backoff)."""
        from evalkit.runner._retry import RetryPolicy

        if self._retry is None:
            self._retry = RetryPolicy(max_attempts=DEFAULT_MAX_ATTEMPTS, base_delay_s=0.5,
                                      max_delay_s=10.0, max_total_s=60.0)
        return self._retry

    def _span_attributes(self) -> dict[str, Any]:
        from urllib.parse import urlsplit

        parts = urlsplit(self.base_url)
        return {"server.address": parts.hostname or "", "server.port": parts.port or (
            443 if parts.scheme == "https" else 80)}

    async def _sdk(self) -> Any:
        # httpx connection pools belong to one event loop: one SDK client per loop. An
        # SDK client that outlives its loop is closed by the SDK's __del__ on whatever
        # loop runs later, which fails noisily ("Event loop is closed"). So each client
        # is tied to a started async generator: asyncio.run() (and any runner calling
        # loop.shutdown_asyncgens()) finalises it on the right loop, closing the client.
        loop = asyncio.get_running_loop()
        entry = self._sdk_clients.get(loop)
        if entry is None:
            import openai

            client = openai.AsyncOpenAI(
                base_url=self.base_url, api_key=self._api_key_source(),
                max_retries=0, timeout=self.timeout_s, http_client=self._http_client,
            )
            loop_ref = weakref.ref(loop)  # a strong one would pin the weak-keyed entry

            def forget() -> None:
                alive = loop_ref()
                if alive is not None:
                    self._sdk_clients.pop(alive, None)

            closer = _close_on_loop_shutdown(client, owned=self._http_client is None,
                                             forget=forget)
            await closer.__anext__()
            entry = self._sdk_clients[loop] = (client, closer)
        return entry[0]

    async def aclose(self) -> None:
        """Close the HTTP client of the running event loop (optional: see ``_sdk``)."""
        entry = self._sdk_clients.pop(asyncio.get_running_loop(), None)
        if entry is not None:
            await entry[1].aclose()

    async def _complete(self, request: ChatRequest, span: SpanRecorder) -> CachedResponse:
        if request.schema is None:
            return await self._with_retries(request, None, span)
        for index in range(self._format_start, len(_FORMAT_CHAIN)):
            mode = _FORMAT_CHAIN[index]
            try:
                response = await self._with_retries(request, mode, span)
            except _FormatRejected as exc:
                span.add_event("response_format_fallback", rejected=mode, reason=str(exc)[:300])
                continue
            self._format_start = index
            return response
        raise AssertionError("the last response_format is never rejected")  # pragma: no cover

    async def _with_retries(self, request: ChatRequest, mode: FormatMode | None,
                            span: SpanRecorder) -> CachedResponse:
        from evalkit.runner._retry import retry_async

        def on_retry(attempt: int, error: BaseException, delay: float) -> None:
            span.add_event(
                "retry", attempt=attempt, delay_s=round(delay, 3),
                error_type=type(error).__name__,
                status_code=getattr(error, "status_code", None) or 0,
            )

        return await retry_async(lambda: self._attempt(request, mode), self.retry,
                                 on_retry=on_retry)

    def _request_kwargs(self, request: ChatRequest, mode: FormatMode | None) -> dict[str, Any]:
        messages = request.messages
        kwargs: dict[str, Any] = {
            "model": self.model,
            "temperature": request.temperature,
            self._token_param: request.max_tokens,
        }
        if request.seed is not None:
            kwargs["seed"] = request.seed
        if request.stop:
            kwargs["stop"] = request.stop
        if request.schema is not None and request.schema_json is not None:
            if mode == "json_schema":
                kwargs["response_format"] = {
                    "type": "json_schema",
                    "json_schema": {
                        "name": re.sub(r"[^A-Za-z0-9_-]", "_", request.schema.__name__)[:64],
                        "schema": _strict_schema(request.schema),
                        "strict": True,
                    },
                }
            elif mode == "json_object_schema":
                kwargs["response_format"] = {"type": "json_object",
                                             "schema": request.schema_json}
            else:
                kwargs["response_format"] = {"type": "json_object"}
                messages = _with_instruction(messages, request.schema_json)
        kwargs["messages"] = messages
        return kwargs

    async def _attempt(self, request: ChatRequest, mode: FormatMode | None) -> CachedResponse:
        import openai

        kwargs = self._request_kwargs(request, mode)
        start = time.perf_counter()
        try:
            sdk = await self._sdk()
            completion = await sdk.chat.completions.create(**kwargs)
        except openai.OpenAIError as exc:
            secret = self._api_key_source()
            if mode is not None and mode != _FORMAT_CHAIN[-1] and _is_format_rejection(exc):
                raise _FormatRejected(scrub(str(exc), secret), model=self.name) from None
            # `from None`: the SDK error holds the request, whose headers hold the key.
            raise map_openai_error(exc, model=self.name, secret=secret) from None
        elapsed = time.perf_counter() - start
        if not completion.choices:
            raise ModelError(f"{self.name}: the server returned no choices", model=self.name)
        choice = completion.choices[0]
        message = choice.message
        refusal = getattr(message, "refusal", None)
        text = message.content if message.content is not None else (refusal or "")
        usage = completion.usage
        return CachedResponse(
            text=text,
            model=completion.model or self.model,
            input_tokens=int(usage.prompt_tokens) if usage else 0,
            output_tokens=int(usage.completion_tokens) if usage else 0,
            finish_reason=choice.finish_reason,
            latency_s=round(elapsed, 6),
        )
