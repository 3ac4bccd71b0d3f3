"""``create_client``: from a spec string and options to a ready :class:`ModelClient`."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from evalkit.errors import ConfigError
from evalkit.model._cache import DEFAULT_CACHE_DIR, ResponseCache, check_cache_mode
from evalkit.model._client import ChatClientBase
from evalkit.model._prices import build_price_table
from evalkit.model._spec import parse_model_spec

API_KEY_ENV = "OPENAI_API_KEY"
_LOCAL_OPTIONS = frozenset({"n_ctx", "n_threads"})
_HTTP_OPTIONS = frozenset({"timeout_s", "max_attempts", "retry", "http_client"})
_COMPATIBLE_OPTIONS = _HTTP_OPTIONS | {"api_key", "api_key_env"}


def _check_options(spec_name: str, options: Mapping[str, Any], allowed: frozenset[str]) -> None:
    unknown = sorted(set(options) - allowed)
    if unknown:
        accepted = ", ".join(sorted(allowed)) or "none"
        raise ConfigError(
            f"unknown option(s) {', '.join(unknown)} for model {spec_name!r}; "
            f"accepted: {accepted}",
            key="model",
        )


def _positive(options: Mapping[str, Any], name: str, kind: type) -> Any:
    value = options.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ConfigError(f"{name} must be a positive number, got {value!r}", key=name)
    return kind(value)


def _retry_policy(options: Mapping[str, Any]) -> Any:
    from evalkit.runner._retry import RetryPolicy

    if options.get("retry") is not None:
        policy = options["retry"]
        if not isinstance(policy, RetryPolicy):
            raise ConfigError("retry must be an evalkit RetryPolicy", key="retry")
        return policy
    attempts = _positive(options, "max_attempts", int)
    if attempts is None:
        return None
    return RetryPolicy(max_attempts=attempts, base_delay_s=0.5, max_delay_s=10.0,
                       max_total_s=60.0)


def _key_source(spec_name: str, provider: str, options: Mapping[str, Any]) -> Callable[[], str]:
    # Returns a callable rather than the key so that the key is never an attribute.
    if provider == "openai":
        if not os.environ.get(API_KEY_ENV):
            raise ConfigError(
                f"model {spec_name!r} needs the environment variable {API_KEY_ENV}; "
                "set it, or use the embedded model (model: local)",
                key="model",
            )
        return lambda: os.environ.get(API_KEY_ENV, "")
    if options.get("api_key") is not None:
        literal = str(options["api_key"])
        return lambda: literal
    env_name = options.get("api_key_env")
    if env_name is not None:
        if not os.environ.get(str(env_name)):
            raise ConfigError(f"api_key_env names {env_name!r}, which is not set",
                              key="api_key_env")
        return lambda: os.environ.get(str(env_name), "")
    from evalkit.model._openai import PLACEHOLDER_KEY

    return lambda: PLACEHOLDER_KEY


def create_client(
    spec: str = "local",
    *,
    cache_dir: str | Path | None = None,
    cache_mode: str = "off",
    prices: Mapping[str, tuple[float, float]] | None = None,
    **options: Any,
) -> ChatClientBase:
    """Build a model client from a spec string.

    Args:
        spec: ``local`` (default: SmolLM2-135M-Instruct, embedded), ``local:PATH.gguf``,
            ``openai:NAME`` (needs ``OPENAI_API_KEY``) or
            ``openai-compatible:NAME@http://host:port/v1``.
        cache_dir: response cache folder (default ``.evalkit-cache/``).
        cache_mode: ``off`` (default), ``read-write`` or ``read-only``.
        prices: USD per 1M (input, output) tokens by model name; overrides the defaults
            and the file named by ``$EVALKIT_PRICES``.
        **options: local: ``n_ctx`` (default 4096), ``n_threads`` (default
            ``$EVALKIT_LLAMA_THREADS``, else half the usable CPUs, shared among xdist
            workers);
            HTTP: ``timeout_s`` (60), ``max_attempts`` (3) or ``retry`` (a RetryPolicy),
            ``http_client`` (an ``httpx2.AsyncClient`` for the SDK: proxies, CAs, tests);
            openai-compatible also ``api_key`` or ``api_key_env`` (else a placeholder).

    Example::

        client = create_client("local", cache_mode="read-write")
        result = await client.chat([{"role": "user", "content": "Hi"}], max_tokens=16)

    Raises:
        ConfigError: bad spec, unknown option, missing key, missing model file.
    """
    parsed = parse_model_spec(spec)
    mode = check_cache_mode(cache_mode)
    cache = None
    if mode != "off":
        cache = ResponseCache(cache_dir if cache_dir is not None else DEFAULT_CACHE_DIR,
                              mode=mode)
    table = build_price_table(prices)
    if parsed.provider == "local":
        from evalkit.model._local import DEFAULT_N_CTX, LocalChatClient

        _check_options(parsed.name, options, _LOCAL_OPTIONS)
        return LocalChatClient(
            parsed, prices=table, cache=cache,
            n_ctx=_positive(options, "n_ctx", int) or DEFAULT_N_CTX,
            n_threads=_positive(options, "n_threads", int),
        )
    from evalkit.model._openai import DEFAULT_TIMEOUT_S, OPENAI_BASE_URL, OpenAIChatClient

    allowed = _HTTP_OPTIONS if parsed.provider == "openai" else _COMPATIBLE_OPTIONS
    _check_options(parsed.name, options, allowed)
    key_source = _key_source(parsed.name, parsed.provider, options)
    base_url = parsed.base_url or os.environ.get("OPENAI_BASE_URL") or OPENAI_BASE_URL
    return OpenAIChatClient(
        parsed, base_url=base_url, api_key_source=key_source, prices=table, cache=cache,
        timeout_s=_positive(options, "timeout_s", float) or DEFAULT_TIMEOUT_S,
        retry=_retry_policy(options), http_client=options.get("http_client"),
    )
