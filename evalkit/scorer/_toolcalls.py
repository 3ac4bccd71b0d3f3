"""Tool calls as scorers see them: read from a trial's spans (or from its output)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from evalkit.scorer._base import TrialView

TOOL_ARGS = "gen_ai.tool.call.arguments"
TOOL_RESULT = "gen_ai.tool.call.result"

_UNPARSED = object()


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One recorded tool call."""

    name: str
    args: Any = None
    """Arguments (parsed JSON; the raw text when it was not JSON; None when absent)."""
    result: Any = None
    """The result as recorded (parsed JSON when possible)."""
    ok: bool = True
    """False when the span's status is ERROR."""
    start: float = 0.0


def is_judge_span(row: Mapping[str, Any]) -> bool:
    """Whether a span row is an LLM-judge call (made by a scorer, not by the agent)."""
    attrs = row.get("attributes")
    return isinstance(attrs, str) and '"evalkit.judge.' in attrs


def agent_spans(spans: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The spans the system under test produced (judge calls left out)."""
    return [r for r in spans if not is_judge_span(r)]


def span_attributes(row: Mapping[str, Any]) -> dict[str, Any]:
    """The span row's ``attributes`` (stored as JSON text) as a dict."""
    raw = row.get("attributes")
    if isinstance(raw, Mapping):
        return dict(raw)
    if isinstance(raw, str) and raw:
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            return {}
        return value if isinstance(value, dict) else {}
    return {}


def _maybe_json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def tool_calls_from_spans(spans: Sequence[Mapping[str, Any]]) -> list[ToolCall]:
    """``execute_tool`` spans as tool calls, ordered by start time."""
    calls = []
    for row in spans:
        if row.get("operation") != "execute_tool":
            continue
        attrs = span_attributes(row)
        name = row.get("tool_name") or attrs.get("gen_ai.tool.name") or row.get("name") or ""
        calls.append(ToolCall(
            name=str(name),
            args=_maybe_json(attrs.get(TOOL_ARGS)),
            result=_maybe_json(attrs.get(TOOL_RESULT)),
            ok=row.get("status") != "ERROR",
            start=float(row.get("start_time") or 0.0),
        ))
    calls.sort(key=lambda c: c.start)
    return calls


def tool_calls_from_value(value: Any, where: str) -> list[ToolCall]:
    """Tool calls listed in data: names, or mappings ``{tool|name, args|arguments}``.

    Raises:
        ValueError: an item that is neither, naming its index.
    """
    if not isinstance(value, list | tuple):
        raise ValueError(f"{where} is {type(value).__name__}, expected a list of tool calls")
    calls = []
    for i, item in enumerate(value):
        if isinstance(item, str) and item:
            calls.append(ToolCall(name=item, args=_UNPARSED))
        elif isinstance(item, Mapping) and isinstance(item.get("tool", item.get("name")), str):
            name = item.get("tool", item.get("name"))
            has_args = "args" in item or "arguments" in item
            args = _maybe_json(item.get("args", item.get("arguments"))) if has_args else _UNPARSED
            calls.append(ToolCall(name=str(name), args=args, result=item.get("result"),
                                  ok=not item.get("error", False)))
        else:
            raise ValueError(f"{where}[{i}] is {item!r}; expected a tool name or "
                             "{tool: NAME, args: {...}}")
    return calls


def has_args(call: ToolCall) -> bool:
    """Whether an expected call specifies arguments (a bare name does not)."""
    return call.args is not _UNPARSED


def recorded_tool_calls(view: TrialView, actual: str | None = None) -> list[ToolCall]:
    """The trial's tool calls: from *actual* (a dotted path) when given, else from spans."""
    if actual is not None:
        calls = tool_calls_from_value(view.resolve(actual), actual)
        return [ToolCall(c.name, c.args if has_args(c) else None, c.result, c.ok, c.start)
                for c in calls]
    return tool_calls_from_spans(view.spans)
