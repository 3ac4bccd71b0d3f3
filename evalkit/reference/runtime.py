"""The state of one pipeline run: checkpointed steps, model calls, budgets, prompts.

Agents receive a :class:`PipelineRun` and use it for everything with a side effect:
``run.step(name, fn)`` runs a step once (or loads it from the checkpoint),
``run.llm(...)`` makes a budgeted, traced, retried model call, ``run.tools`` calls
tools. That keeps the agents themselves about their job only.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel

from evalkit.errors import EvalkitError
from evalkit.reference.budgets import RunBudget
from evalkit.reference.checkpoint import CheckpointStore
from evalkit.reference.corpus import Corpus
from evalkit.reference.prompting import Prompt, load_prompt
from evalkit.reference.tools import ToolExecutor
from evalkit.runner._retry import RetryPolicy, retry_async

T = TypeVar("T")
AGENTS = ("researcher", "writer", "verifier")


class StepFailed(EvalkitError):
    """A step could not complete (e.g. every document it needed was unavailable)."""

    def __init__(self, message: str, *, step: str, error_type: str = "StepFailed") -> None:
        self.step = step
        self.error_type = error_type
        super().__init__(f"{step}: {message}")


@dataclass
class LLMReply:
    """What an agent needs from one model call."""

    parsed: Any
    text: str
    input_tokens: int
    output_tokens: int


@dataclass
class PipelineRun:
    """Everything one run of the pipeline shares across its steps."""

    ctx: Any
    """The trial context (``evalkit.runner.TrialContext``)."""
    corpus: Corpus
    store: CheckpointStore
    key: str
    attempt: int
    budget: RunBudget
    tools: ToolExecutor
    prompt_versions: Mapping[str, str]
    temperature: float = 0.7
    model_retry: RetryPolicy = field(default_factory=lambda: RetryPolicy(3, 0.5, 8.0, 30.0))
    completed: dict[str, Any] = field(default_factory=dict)
    """Steps loaded from the checkpoint: ``{step: {"data": ..., "usage": ...}}``."""
    step_log: list[dict[str, Any]] = field(default_factory=list)
    current_step: str = ""

    @property
    def params(self) -> Mapping[str, Any]:
        """The suite parameters."""
        params: Mapping[str, Any] = self.ctx.params
        return params

    def prompt(self, agent: str) -> Prompt:
        """The prompt version this run uses for *agent*."""
        return load_prompt(agent, self.prompt_versions.get(agent, "v1"))

    async def step(self, name: str, fn: Callable[[], Awaitable[T]]) -> T | Any:
        """Run step *name* once: load it from the checkpoint, or run and save it.

        The payload must be JSON-serialisable; the budget used so far and the step's
        tool calls are saved with it, so a resumed run keeps counting from where it
        was and still reports its whole trajectory.
        """
        if name in self.completed:
            saved = self.completed[name]
            self.budget.restore(saved.get("usage", {}))
            # The tool calls of a resumed step still belong to this run's trajectory.
            self.tools.log.extend(saved.get("tool_log", []))
            self.step_log.append({"step": name, "status": "resumed", "ms": 0.0})
            return saved["data"]
        self.current_step = name
        first_call = len(self.tools.log)
        start = time.perf_counter()
        try:
            data = await fn()
        except BaseException:
            self.step_log.append({"step": name, "status": "failed",
                                  "ms": round((time.perf_counter() - start) * 1000, 1)})
            raise
        self.store.save(self.key, name, {"data": data, "usage": self.budget.snapshot(),
                                         "tool_log": self.tools.log[first_call:]})
        self.step_log.append({"step": name, "status": "ok",
                              "ms": round((time.perf_counter() - start) * 1000, 1)})
        return data

    async def llm(
        self,
        prompt: Prompt,
        *,
        schema: type[BaseModel],
        max_tokens: int,
        values: Mapping[str, str],
    ) -> LLMReply:
        """One budgeted model call with structured output.

        The prompt's version and hash go to the span and to the run manifest.
        Transient model errors are retried; a reply that does not fit *schema* is
        resampled once with another seed, then the error propagates.
        """
        from evalkit.model import StructuredOutputError

        # Only prompts actually sent are reported to the run manifest.
        self.ctx.record_version(f"prompt.{prompt.agent}", prompt.version, prompt.sha256)
        messages = prompt.render(**values)
        attributes = {**prompt.span_attributes, "evalkit.step": self.current_step}
        base_seed = int(self.ctx.seed)
        for resample in range(2):
            self.budget.charge_step()

            async def call(seed: int = base_seed + resample) -> Any:
                return await self.ctx.model.chat(
                    messages, schema=schema, temperature=self.temperature,
                    max_tokens=max_tokens, seed=seed, trial=self.ctx.trial,
                    span_attributes=attributes,
                )

            try:
                result = await retry_async(call, self.model_retry, rng=self.ctx.rng)
            except StructuredOutputError:
                self.store.log_call(self.key, self.attempt, self.current_step, "llm",
                                    prompt.agent, False)
                if resample == 1:
                    raise
                continue
            self.store.log_call(self.key, self.attempt, self.current_step, "llm",
                                prompt.agent, True)
            self.budget.charge_tokens(result.input_tokens + result.output_tokens,
                                      result.cost_usd)
            return LLMReply(result.parsed, result.text, result.input_tokens,
                            result.output_tokens)
        raise AssertionError("unreachable")  # pragma: no cover
