"""Model clients: the embedded local model, OpenAI, and any OpenAI-compatible server.

Example::

    from evalkit.model import create_client

    client = create_client("local")                  # SmolLM2-135M-Instruct, offline
    result = await client.chat(
        [{"role": "user", "content": "Name a prime number."}], max_tokens=16
    )
    result.text, result.input_tokens, result.output_tokens, result.cost_usd

Every call is an LLM span of the running trial (model, usage, cost, seed, cache hit),
takes that trial's seed and index by default, and may be served from a response
cache whose key includes the trial index. Importing this package is cheap:
``llama_cpp`` and ``openai`` are imported on first use.
"""

from __future__ import annotations

from evalkit.model._cache import CACHE_MODES, CachedResponse, CacheMode, ResponseCache, cache_key
from evalkit.model._client import (
    ChatClientBase,
    ChatResult,
    ModelClient,
    StructuredOutputError,
    validate_structured,
)
from evalkit.model._factory import create_client
from evalkit.model._prices import DEFAULT_PRICES, PriceTable, build_price_table, load_price_file
from evalkit.model._spec import ModelSpec, default_gguf_path, parse_model_spec

__all__ = [
    "CACHE_MODES",
    "DEFAULT_PRICES",
    "CacheMode",
    "CachedResponse",
    "ChatClientBase",
    "ChatResult",
    "ModelClient",
    "ModelSpec",
    "PriceTable",
    "ResponseCache",
    "StructuredOutputError",
    "build_price_table",
    "cache_key",
    "create_client",
    "default_gguf_path",
    "load_price_file",
    "parse_model_spec",
    "validate_structured",
]
