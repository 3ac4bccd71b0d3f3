"""Numbers and metric names as people read them, shared by the HTML and Markdown reports."""

from __future__ import annotations

import math
from typing import Any

__all__ = ["delta_text", "interval_text", "is_rate", "metric_label", "value_text"]

_LABELS = {
    "completion_rate": "task completion",
    "tool_error_rate": "tool-error rate (errors / calls)",
    "trials_with_tool_error": "trials with a tool error",
    "latency_p50_s": "latency p50",
    "latency_p95_s": "latency p95",
    "cost_per_trial_usd": "cost per trial",
}


def metric_label(name: str) -> str:
    """``completion_rate`` → ``task completion``; unknown names unchanged."""
    if name in _LABELS:
        return _LABELS[name]
    if name.startswith("pass_rate:"):
        return f"pass rate {name.split(':', 1)[1]}"
    if name.startswith("score:"):
        return f"mean score {name.split(':', 1)[1]}"
    return name


def is_rate(name: str) -> bool:
    """Whether the metric is a share in [0, 1] shown in percent."""
    return (name in {"completion_rate", "tool_error_rate", "trials_with_tool_error"}
            or name.startswith(("pass_rate:", "pass@", "pass^")))


def _finite(x: Any) -> bool:
    return isinstance(x, int | float) and math.isfinite(float(x))


def value_text(name: str, x: Any) -> str:
    """A metric value: ``91.2%``, ``0.734``, ``1.23 s``, ``$0.00041`` or ``n/a``."""
    if not _finite(x):
        return "n/a"
    x = float(x)
    if is_rate(name):
        return f"{x * 100:.1f}%"
    if name.endswith("_s"):
        return f"{x:.3g} s" if abs(x) < 100 else f"{x:,.0f} s"
    if "usd" in name:
        return f"${x:.3g}" if abs(x) < 1 else f"${x:,.2f}"
    return f"{x:.3f}"


def delta_text(name: str, x: Any) -> str:
    """A difference: ``−6.9 pp``, ``+0.012``, ``+0.31 s`` (true minus sign)."""
    if not _finite(x):
        return "n/a"
    x = float(x)
    sign = "+" if x > 0 else "−" if x < 0 else "±"
    a = abs(x)
    if is_rate(name):
        return f"{sign}{a * 100:.1f} pp"
    if name.endswith("_s"):
        return f"{sign}{a:.3g} s"
    if "usd" in name:
        return f"{sign}${a:.3g}"
    return f"{sign}{a:.3f}"


def interval_text(name: str, low: Any, high: Any, *, delta: bool = False) -> str:
    """``[−9.0, −4.8] pp`` style interval (``n/a`` when undefined)."""
    if not (_finite(low) and _finite(high)):
        return "[n/a]"
    fmt = delta_text if delta else value_text
    return f"[{fmt(name, low)}, {fmt(name, high)}]"

