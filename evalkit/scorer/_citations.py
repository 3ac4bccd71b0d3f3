"""``citations-subset``: every cited document was actually retrieved.

Cited ids come from a path in the output (a list of ids, of mappings with an id field,
or text searched with a pattern). Retrieved ids come from a path, or — by default — from
the trial's successful ``read_doc`` / ``search_docs`` tool spans: id fields at the top
level of the arguments, and at any depth in the results (search hits).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import Field

from evalkit.scorer._base import (
    PathNotFound,
    Score,
    Scorer,
    ScorerEnv,
    ScorerSpec,
    TrialView,
    register_scorer,
)
from evalkit.scorer._structured import _list
from evalkit.scorer._toolcalls import tool_calls_from_spans


class CitationsSpec(ScorerSpec):
    """Options of ``citations-subset``."""

    cited: str = "output.citations"
    """Dotted path of the citations."""
    retrieved: str | None = None
    """Dotted path of the retrieved ids (default: from tool spans)."""
    tools: list[str] = Field(default_factory=lambda: ["read_doc", "search_docs"])
    """Tools whose spans count as retrieval."""
    id_fields: list[str] = Field(default_factory=lambda: ["doc_id", "doc_ids", "id", "ids"])
    """Keys holding a document id (or a list of ids)."""
    pattern: str | None = None
    """Regex with one group extracting ids when the citations are text, e.g. ``\\[(\\w+)\\]``."""
    require_citations: bool = True
    """No citation at all is a failure (false: passes vacuously)."""


def ids_in(value: Any, fields: Sequence[str], *, deep: bool) -> list[str]:
    """Document ids held by *value*: a bare id, a list, or id fields of mappings."""
    out: list[str] = []
    if isinstance(value, str | int) and not isinstance(value, bool):
        return [str(value)]
    if isinstance(value, list | tuple):
        for item in value:
            out += ids_in(item, fields, deep=deep)
    elif isinstance(value, Mapping):
        for key in fields:
            if key in value:
                out += ids_in(value[key], (), deep=False)
        if deep:
            for key, item in value.items():
                if key not in fields and isinstance(item, Mapping | list):
                    out += ids_in(item, fields, deep=True)
    return out


def _ids_in_text(text: str, fields: Sequence[str]) -> list[str]:
    """Ids from truncated JSON text (results are cut at 8 KiB in spans)."""
    keys = "|".join(re.escape(f) for f in fields)
    return re.findall(rf'"(?:{keys})"\s*:\s*"([^"]+)"', text)


@register_scorer("citations-subset")
class CitationsSubset(Scorer):
    """Cited ids ⊆ retrieved ids; the score is the share of citations retrieved."""

    spec_model = CitationsSpec
    spec: CitationsSpec

    def __init__(self, spec: ScorerSpec, env: ScorerEnv | None = None) -> None:
        super().__init__(spec, env)
        try:
            self._pattern = re.compile(self.spec.pattern) if self.spec.pattern else None
        except re.error as exc:
            raise ValueError(f"invalid pattern: {exc}") from None

    def cited_ids(self, value: Any) -> list[str]:
        """Ids cited in *value*."""
        if isinstance(value, str) and self._pattern is not None:
            return [m if isinstance(m, str) else m[0] for m in self._pattern.findall(value)]
        if value is None:
            return []
        return ids_in(value, self.spec.id_fields, deep=False)

    def retrieved_ids(self, view: TrialView) -> set[str]:
        """Ids retrieved by the trial's tools (or read from ``retrieved``)."""
        if self.spec.retrieved is not None:
            return set(ids_in(view.resolve(self.spec.retrieved), self.spec.id_fields, deep=True))
        wanted = set(self.spec.tools)
        found: set[str] = set()
        for call in tool_calls_from_spans(view.spans):
            if call.name not in wanted or not call.ok:
                continue
            found.update(ids_in(call.args, self.spec.id_fields, deep=False)
                         if isinstance(call.args, Mapping) else [])
            if isinstance(call.result, str):
                found.update(_ids_in_text(call.result, self.spec.id_fields))
            else:
                found.update(ids_in(call.result, self.spec.id_fields, deep=True))
        return found

    def check(self, view: TrialView) -> Score:
        """Share of cited ids that were retrieved (passes at 1.0)."""
        try:
            cited = _unique(self.cited_ids(view.resolve(self.spec.cited)))
            retrieved = self.retrieved_ids(view)
        except PathNotFound as exc:
            return Score(0.0, str(exc))
        if not cited:
            if self.spec.require_citations:
                return Score(0.0, f"{self.spec.cited} cites nothing")
            return Score(1.0, f"{self.spec.cited} cites nothing (allowed)")
        unsupported = [c for c in cited if c not in retrieved]
        details = {"cited": cited[:50], "retrieved": sorted(retrieved)[:50],
                   "unsupported": unsupported[:50]}
        value = 1.0 - len(unsupported) / len(cited)
        if not unsupported:
            return Score(1.0, f"all {len(cited)} cited ids were retrieved", details)
        source = self.spec.retrieved or f"{'/'.join(self.spec.tools)} calls"
        return Score(value, f"{len(unsupported)} of {len(cited)} cited ids were never retrieved "
                            f"(by {source}): {_list(unsupported)}", details)


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))
