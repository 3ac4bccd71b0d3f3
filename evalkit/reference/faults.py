"""Seeded fault injection for tool calls, configured by a suite's ``faults:``.

Example suite block::

    faults:
      timeout_s: 0.2          # the tool-call timeout; an injected timeout hangs past it
      slow_s: 0.05            # delay added by a "slow" fault
      tools:
        search_docs: {timeout: 0.05, rate_limit: 0.05, server_error: 0.05,
                      malformed: 0.05, slow: 0.1}
        "*": {server_error: 0.02}     # every tool not named above

Each tool-call attempt draws one uniform number from a generator seeded by
(trial seed, tool, attempt number), so a run is reproducible and the fraction of
attempts that fail converges to the configured rates. Rates of one tool are
mutually exclusive and must sum to at most 1.
"""

from __future__ import annotations

import enum
import hashlib
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from evalkit.errors import ConfigError


class Fault(enum.Enum):
    """What an injected fault does to one tool-call attempt."""

    TIMEOUT = "timeout"
    """The tool hangs past the call timeout (a transient ``TimeoutError``)."""
    RATE_LIMIT = "rate_limit"
    """HTTP 429 with a short ``Retry-After`` (transient)."""
    SERVER_ERROR = "server_error"
    """HTTP 503 (transient)."""
    MALFORMED = "malformed"
    """The response drifts from its schema (a ``ContractError``, not retried)."""
    SLOW = "slow"
    """The response arrives late but intact."""


class ToolFaultRates(BaseModel):
    """Per-attempt probabilities of each fault for one tool."""

    model_config = ConfigDict(extra="forbid")

    timeout: float = Field(default=0.0, ge=0, le=1)
    """Probability that an attempt times out."""
    rate_limit: float = Field(default=0.0, ge=0, le=1)
    """Probability of a 429."""
    server_error: float = Field(default=0.0, ge=0, le=1)
    """Probability of a 5xx."""
    malformed: float = Field(default=0.0, ge=0, le=1)
    """Probability of a schema-drifted response."""
    slow: float = Field(default=0.0, ge=0, le=1)
    """Probability of a slow (but correct) response."""

    @model_validator(mode="after")
    def _at_most_one(self) -> ToolFaultRates:
        if self.total > 1.0 + 1e-9:
            raise ValueError(f"fault rates sum to {self.total:g}; they must sum to at most 1")
        return self

    @property
    def total(self) -> float:
        """Sum of all rates."""
        return self.timeout + self.rate_limit + self.server_error + self.malformed + self.slow

    @property
    def failing(self) -> float:
        """Probability that an attempt fails (every fault except ``slow``)."""
        return self.total - self.slow


class FaultConfig(BaseModel):
    """The ``faults:`` block of a suite."""

    model_config = ConfigDict(extra="forbid")

    tools: dict[str, ToolFaultRates] = Field(default_factory=dict)
    """Rates per tool name; ``"*"`` applies to tools not named."""
    timeout_s: float = Field(default=10.0, gt=0)
    """Tool-call timeout enforced by the pipeline."""
    slow_s: float = Field(default=0.05, ge=0)
    """Delay of a slow response (keep it under ``timeout_s``)."""
    retry_after_s: float = Field(default=0.01, ge=0)
    """``Retry-After`` sent with an injected 429."""

    def rates(self, tool: str) -> ToolFaultRates:
        """The rates that apply to *tool*."""
        return self.tools.get(tool) or self.tools.get("*") or ToolFaultRates()

    @classmethod
    def parse(cls, raw: Mapping[str, Any] | None) -> FaultConfig:
        """Validate a suite's ``faults:`` mapping.

        Raises:
            ConfigError: naming the offending key, e.g. ``faults.tools.read_doc.slow``.
        """
        try:
            return cls.model_validate(dict(raw or {}))
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = ".".join(str(p) for p in err["loc"])
            msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
            raise ConfigError(msg, key=f"faults.{loc}" if loc else "faults") from None


@dataclass
class FaultInjector:
    """Draws the fault (or none) for each tool-call attempt, reproducibly."""

    config: FaultConfig
    seed: int
    counts: dict[str, int] = field(default_factory=dict)
    """Attempts drawn so far, per tool."""
    injected: dict[str, dict[str, int]] = field(default_factory=dict)
    """Faults injected so far, per tool and kind."""

    @property
    def enabled(self) -> bool:
        """Whether any fault can ever be injected."""
        return any(r.total > 0 for r in self.config.tools.values())

    def draw(self, tool: str) -> Fault | None:
        """The fault for the next attempt of *tool*, or None."""
        n = self.counts.get(tool, 0)
        self.counts[tool] = n + 1
        rates = self.config.rates(tool)
        if rates.total <= 0:
            return None
        u = self.rng(tool, n).random()
        edge = 0.0
        for fault in Fault:
            edge += getattr(rates, fault.value)
            if u < edge:
                per_tool = self.injected.setdefault(tool, {})
                per_tool[fault.value] = per_tool.get(fault.value, 0) + 1
                return fault
        return None

    def rng(self, tool: str, attempt: int) -> random.Random:
        """The generator for one attempt (also picks the kind of schema drift)."""
        digest = hashlib.blake2b(f"{self.seed}\x1f{tool}\x1f{attempt}".encode(), digest_size=8)
        return random.Random(int.from_bytes(digest.digest(), "big"))


def drift(payload: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """A copy of a tool response with one realistic schema drift applied.

    The kinds: the schema version moves on, a field is renamed, a number becomes a
    string, or a required field disappears.
    """
    out = dict(payload)
    kind = rng.choice(["version", "rename", "type", "missing"])
    if kind == "version":
        name, _, major = str(out.get("schema_version", "tool/1")).partition("/")
        out["schema_version"] = f"{name}/{int(major or 1) + 1}"
    elif kind == "rename":
        key = "hits" if "hits" in out else "text"
        out["results" if key == "hits" else "body"] = out.pop(key, None)
    elif kind == "type" and out.get("hits"):
        out["hits"] = [{**h, "score": f"{h.get('score', 0)}"[:3] + "pts"} for h in out["hits"]]
    else:
        out.pop("hits" if "hits" in out else "text", None)
    return out
