from __future__ import annotations

import json
from pathlib import Path

import pytest

from evalkit.errors import ConfigError
from evalkit.model import DEFAULT_PRICES, PriceTable, build_price_table, load_price_file


def test_defaults_cover_the_common_openai_models() -> None:
    assert DEFAULT_PRICES["gpt-4o-mini"] == (0.15, 0.60)
    assert DEFAULT_PRICES["gpt-4o"] == (2.50, 10.00)
    assert DEFAULT_PRICES["gpt-4.1-mini"] == (0.40, 1.60)


def test_cost_per_million_tokens() -> None:
    table = PriceTable(DEFAULT_PRICES)
    assert table.cost(["gpt-4o-mini"], 1_000_000, 0) == pytest.approx(0.15)
    assert table.cost(["gpt-4o"], 2_000, 1_000) == pytest.approx(0.005 + 0.01)


def test_dated_snapshot_and_lookup_order() -> None:
    table = PriceTable({"gpt-4o-mini": (0.15, 0.60), "openai:gpt-4o-mini": (1.0, 1.0)})
    assert table.lookup(["gpt-4o-mini-2024-07-18"]) == (0.15, 0.60)
    assert table.lookup(["openai:gpt-4o-mini", "gpt-4o-mini"]) == (1.0, 1.0)


def test_local_and_unknown_models_are_free() -> None:
    table = build_price_table(environ={})
    assert table.cost(["local:SmolLM2-135M-Instruct", "SmolLM2-135M-Instruct"], 10**6, 10**6) == 0
    assert table.cost(["openai-compatible:smollm2", "smollm2"], 10**6, 10**6) == 0


def test_env_file_then_overrides(tmp_path: Path) -> None:
    yaml_file = tmp_path / "prices.yaml"
    yaml_file.write_text("prices:\n  smollm2: [1.0, 2.0]\n  gpt-4o: {input: 3, output: 12}\n")
    table = build_price_table({"gpt-4o": (5.0, 20.0)}, environ={"EVALKIT_PRICES": str(yaml_file)})
    assert table.lookup(["smollm2"]) == (1.0, 2.0)
    assert table.lookup(["gpt-4o"]) == (5.0, 20.0)
    json_file = tmp_path / "prices.json"
    json_file.write_text(json.dumps({"m": [0.5, 1.5]}))
    assert load_price_file(json_file) == {"m": (0.5, 1.5)}


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("m: [1]\n", "expected \\[input, output\\]"),
        ("m: [1, -2]\n", "non-negative"),
        ("m: {input: 1}\n", "'input' and 'output'"),
        ("- m\n", "mapping"),
        ("m: [1, 2\n", "cannot parse"),
    ],
)
def test_bad_price_files_name_the_file(tmp_path: Path, content: str, match: str) -> None:
    file = tmp_path / "prices.yaml"
    file.write_text(content)
    with pytest.raises(ConfigError, match=match) as info:
        build_price_table(environ={"EVALKIT_PRICES": str(file)})
    assert info.value.path == file


def test_missing_price_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        build_price_table(environ={"EVALKIT_PRICES": str(tmp_path / "nope.yaml")})
