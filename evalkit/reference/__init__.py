"""The reference agent pipeline: evalkit's own system under test.

A question-answering assistant over the Python standard library's documentation
topics (``pydoc_data.topics``), built the way production agent workflows should be:
single-responsibility agents (Researcher → Writer → Verifier) with validated handoff
contracts, versioned tool schemas, transient-only retries, circuit breakers, a
degraded search fallback, SQLite checkpoints, risk-tiered escalation, token and step
budgets, versioned prompt files and OpenTelemetry spans for every call.

Suites name its targets::

    target: "evalkit.reference.pipeline:answer_question"   # workflow eval
    target: "evalkit.reference.pipeline:research"          # component eval

It uses evalkit's public API only, like any user's agent would.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["answer_question", "research"]

if TYPE_CHECKING:
    from evalkit.reference.pipeline import answer_question, research


def __getattr__(name: str) -> Any:
    # Lazy: importing the package must not load bm25s or the corpus.
    if name in __all__:
        from evalkit.reference import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module 'evalkit.reference' has no attribute {name!r}")
