"""The embedded model: a GGUF file run in-process by llama-cpp-python.

One ``llama_cpp.Llama`` per (model file, context size) per process, loaded on first
use. llama.cpp contexts are not thread-safe, so calls are serialised: an asyncio lock
per event loop queues callers without tying up worker threads, and a thread lock
guards the model itself across loops and threads. The completion runs in a worker
thread so the event loop stays free while the model computes.
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import importlib.util
import json
import os
import threading
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalkit.errors import ConfigError, ModelError
from evalkit.model._cache import CachedResponse, ResponseCache
from evalkit.model._client import ChatClientBase, ChatRequest, SpanRecorder
from evalkit.model._prices import PriceTable
from evalkit.model._spec import ModelSpec, default_gguf_path

DEFAULT_N_CTX = 4096
THREADS_ENV = "EVALKIT_LLAMA_THREADS"


def default_threads() -> int:
    """Threads for llama.cpp: ``$EVALKIT_LLAMA_THREADS``, else half the usable CPUs.

    Half, like llama-cpp-python's own default (about one per physical core), and
    shared among pytest-xdist workers. llama.cpp's threads spin while they wait for
    each other, so oversubscribed cores are ruinous: on a 2-CPU machine with the other
    core busy, generation measured ~3 tokens/s with 2 threads against ~45 with 1
    (``benchmarks/bench_model.py``); on an idle machine 2 threads are ~1.6x faster.
    """
    configured = os.environ.get(THREADS_ENV, "").strip()
    if configured:
        try:
            value = int(configured)
        except ValueError:
            raise ConfigError(f"{THREADS_ENV} must be a positive integer, got {configured!r}",
                              key=THREADS_ENV) from None
        if value < 1:
            raise ConfigError(f"{THREADS_ENV} must be a positive integer, got {configured!r}",
                              key=THREADS_ENV)
        return value
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    threads = cpus // 2
    workers = os.environ.get("PYTEST_XDIST_WORKER_COUNT", "")
    if workers.isdigit() and int(workers) > 1:
        threads //= int(workers)
    return max(1, threads)


@dataclass(slots=True)
class _SharedModel:
    llama: Any
    lock: threading.Lock
    load_s: float


_MODELS: dict[tuple[str, int, int], _SharedModel] = {}
_MODELS_GUARD = threading.Lock()


def _close_shared_models() -> None:
    # Llama.__del__ at interpreter teardown runs after llama_cpp's globals are gone and
    # prints "TypeError: 'NoneType' object is not callable"; close while they exist.
    with _MODELS_GUARD:
        for shared in _MODELS.values():
            if shared.lock.acquire(timeout=5.0):  # a generation may still be running
                shared.llama.close()
                shared.lock.release()
        _MODELS.clear()


def load_shared_model(path: str | Path, *, n_ctx: int = DEFAULT_N_CTX,
                      n_threads: int | None = None) -> tuple[Any, threading.Lock, bool]:
    """The process-wide ``llama_cpp.Llama`` for *path*, loading it if needed.

    Returns:
        ``(llama, lock, loaded_now)``: hold *lock* while using *llama*.

    Raises:
        ConfigError: llama-cpp-python is not installed.
        ModelError: the file cannot be loaded.
    """
    threads = n_threads or default_threads()
    key = (str(Path(path).resolve()), n_ctx, threads)
    with _MODELS_GUARD:
        shared = _MODELS.get(key)
        if shared is not None:
            return shared.llama, shared.lock, False
        try:
            from llama_cpp import Llama
        except ImportError:
            raise ConfigError(
                "the local model needs llama-cpp-python: pip install 'evalkit[local]'",
                key="model",
            ) from None
        start = time.perf_counter()
        try:
            llama = Llama(model_path=key[0], n_ctx=n_ctx, n_threads=threads,
                          n_threads_batch=threads, verbose=False)
        except (ValueError, RuntimeError, OSError) as exc:
            raise ModelError(f"cannot load {key[0]}: {exc}", model=f"local:{key[0]}") from None
        shared = _SharedModel(llama, threading.Lock(), time.perf_counter() - start)
        if not _MODELS:
            atexit.register(_close_shared_models)
        _MODELS[key] = shared
        return llama, shared.lock, True


@functools.lru_cache(maxsize=64)
def _grammar_for(schema_text: str) -> tuple[Any, bool]:
    """A llama.cpp grammar for a JSON schema; ``(grammar, exact)``.

    llama-cpp-python's own ``response_format`` path silently falls back to "any JSON"
    when the schema converter fails; here the fallback is reported (``exact=False``).
    """
    from llama_cpp.llama_grammar import JSON_GBNF, LlamaGrammar

    try:
        return LlamaGrammar.from_json_schema(schema_text, verbose=False), True
    except Exception:  # the converter raises bare Exceptions / ValueErrors / KeyErrors
        return LlamaGrammar.from_string(JSON_GBNF, verbose=False), False


class LocalChatClient(ChatClientBase):
    """Chat with a local GGUF model through llama-cpp-python (no server, no key)."""

    provider = "llama_cpp"

    def __init__(
        self,
        spec: ModelSpec,
        *,
        prices: PriceTable,
        cache: ResponseCache | None = None,
        n_ctx: int = DEFAULT_N_CTX,
        n_threads: int | None = None,
    ) -> None:
        path = spec.path if spec.path is not None else default_gguf_path()
        if importlib.util.find_spec("llama_cpp") is None:
            raise ConfigError(
                "the local model needs llama-cpp-python: pip install 'evalkit[local]'",
                key="model",
            )
        if not path.is_file():
            raise ConfigError(f"GGUF file not found: {path}", key="model")
        if n_ctx < 512:
            raise ConfigError(f"n_ctx must be at least 512, got {n_ctx}", key="n_ctx")
        self.path = path
        self.n_ctx = n_ctx
        self.n_threads = n_threads or default_threads()
        identity = f"{spec.name}|{path.name}|{path.stat().st_size}"
        super().__init__(name=spec.name, model=spec.model, identity=identity, endpoint="",
                         prices=prices, cache=cache)
        self._loop_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )

    def _loop_lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        lock = self._loop_locks.get(loop)
        if lock is None:
            lock = self._loop_locks[loop] = asyncio.Lock()
        return lock

    async def _complete(self, request: ChatRequest, span: SpanRecorder) -> CachedResponse:
        async with self._loop_lock():
            llama, lock, loaded = await asyncio.to_thread(
                load_shared_model, self.path, n_ctx=self.n_ctx, n_threads=self.n_threads
            )
            if loaded:
                span.add_event("model_load", path=self.path.name)
            exact = True
            grammar = None
            if request.schema_json is not None:
                grammar, exact = _grammar_for(json.dumps(request.schema_json, sort_keys=True))
                if not exact:
                    span.add_event("grammar_fallback", reason="schema not convertible; any JSON")
            start = time.perf_counter()
            raw = await asyncio.to_thread(self._run, llama, lock, request, grammar)
            elapsed = time.perf_counter() - start
        return self._to_response(raw, elapsed)

    def _run(self, llama: Any, lock: threading.Lock, request: ChatRequest,
             grammar: Any) -> Any:
        kwargs: dict[str, Any] = {
            "messages": request.messages,
            "temperature": request.temperature,
            "max_tokens": request.max_tokens,
            "stop": request.stop or [],
            "seed": request.seed,
        }
        if grammar is not None:
            kwargs["grammar"] = grammar
        with lock:
            try:
                return llama.create_chat_completion(**kwargs)
            except ValueError as exc:  # e.g. "Requested tokens (…) exceed context window"
                raise ModelError(str(exc), model=self.name) from None
            except RuntimeError as exc:
                raise ModelError(f"llama.cpp failed: {exc}", model=self.name) from None

    def _to_response(self, raw: Any, elapsed: float) -> CachedResponse:
        try:
            choice = raw["choices"][0]
            usage = raw.get("usage") or {}
            return CachedResponse(
                text=choice["message"].get("content") or "",
                model=self.model,
                input_tokens=int(usage.get("prompt_tokens", 0)),
                output_tokens=int(usage.get("completion_tokens", 0)),
                finish_reason=choice.get("finish_reason"),
                latency_s=round(elapsed, 6),
            )
        except (KeyError, IndexError, TypeError) as exc:
            raise ModelError(f"unexpected llama.cpp response: {exc!r}", model=self.name) from None
