"""Price table: model name → (USD per 1M input tokens, USD per 1M output tokens)."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from evalkit.errors import ConfigError

PRICES_ENV = "EVALKIT_PRICES"

#: List prices in USD per million tokens (input, output). Local models cost nothing.
DEFAULT_PRICES: Mapping[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4.1": (2.00, 8.00),
}

_DATE_SUFFIX = re.compile(r"-\d{4}-\d{2}-\d{2}$")


class PriceTable:
    """Looks up prices by client name, model name, or a dated snapshot of either.

    Example::

        >>> PriceTable({"gpt-4o-mini": (0.15, 0.60)}).cost(["gpt-4o-mini-2024-07-18"], 1000, 500)
        0.00045
    """

    __slots__ = ("_prices",)

    def __init__(self, prices: Mapping[str, tuple[float, float]]) -> None:
        self._prices = dict(prices)

    def __repr__(self) -> str:
        return f"PriceTable({len(self._prices)} models)"

    def lookup(self, names: Iterable[str | None]) -> tuple[float, float] | None:
        """The price of the first of *names* that is known (exact, then undated)."""
        candidates = [n for n in names if n]
        for name in candidates:
            if name in self._prices:
                return self._prices[name]
        for name in candidates:
            undated = _DATE_SUFFIX.sub("", name)
            if undated in self._prices:
                return self._prices[undated]
        return None

    def cost(self, names: Iterable[str | None], input_tokens: int, output_tokens: int) -> float:
        """USD cost of a call; zero for models not in the table (local, unknown)."""
        price = self.lookup(names)
        if price is None:
            return 0.0
        return round((input_tokens * price[0] + output_tokens * price[1]) / 1_000_000, 10)


def _price_pair(value: Any, *, where: str, path: str | Path | None) -> tuple[float, float]:
    if isinstance(value, Mapping):
        if set(value) != {"input", "output"}:
            raise ConfigError(
                "a price needs exactly the keys 'input' and 'output' (USD per 1M tokens)",
                path=path, key=where,
            )
        value = (value["input"], value["output"])
    if (
        not isinstance(value, list | tuple)
        or len(value) != 2
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
        or any(v < 0 for v in value)
    ):
        raise ConfigError(
            f"expected [input, output] non-negative USD per 1M tokens, got {value!r}",
            path=path, key=where,
        )
    return float(value[0]), float(value[1])


def parse_prices(
    raw: Mapping[str, Any], *, path: str | Path | None = None
) -> dict[str, tuple[float, float]]:
    """Validate a ``{model: [input, output]}`` or ``{model: {input:, output:}}`` mapping."""
    if not isinstance(raw, Mapping):
        raise ConfigError("a price table must be a mapping of model name to prices", path=path)
    table: dict[str, tuple[float, float]] = {}
    for name, value in raw.items():
        if not isinstance(name, str) or not name:
            raise ConfigError(f"price table keys must be model names, got {name!r}", path=path)
        table[name] = _price_pair(value, where=name, path=path)
    return table


def load_price_file(path: str | Path) -> dict[str, tuple[float, float]]:
    """Read a YAML or JSON price file (an optional top-level ``prices:`` key is allowed)."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read price file: {exc.strerror or exc}", path=file) from None
    if file.suffix.lower() == ".json":
        try:
            raw: Any = json.loads(text)
        except ValueError as exc:
            raise ConfigError(f"cannot parse price file as JSON: {exc}", path=file) from None
    else:
        import yaml

        try:
            raw = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"cannot parse price file as YAML: {exc}", path=file) from None
    if isinstance(raw, Mapping) and set(raw) == {"prices"}:
        raw = raw["prices"]
    return parse_prices(raw, path=file)


def build_price_table(
    overrides: Mapping[str, tuple[float, float]] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> PriceTable:
    """Defaults, then the file named by ``$EVALKIT_PRICES``, then *overrides*."""
    env = os.environ if environ is None else environ
    table = dict(DEFAULT_PRICES)
    file = env.get(PRICES_ENV)
    if file:
        table.update(load_price_file(file))
    if overrides:
        table.update(parse_prices(overrides, path=None))
    return PriceTable(table)
