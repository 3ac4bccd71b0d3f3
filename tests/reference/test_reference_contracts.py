"""Handoff and tool contracts reject bad data, naming the step and the field."""

from __future__ import annotations

import pytest

from evalkit.errors import ContractError
from evalkit.reference.contracts import (
    DraftAnswer,
    ResearchNotes,
    SearchDocsOutput,
    Verdict,
    validate_handoff,
)

NOTES = {
    "question": "What does pass do?",
    "queries": ["pass statement"],
    "retrieved": ["pass"],
    "claims": [{"text": "pass is a null operation.", "doc_id": "pass",
                "quote": "\"pass\" is a null operation"}],
    "support": 1.0,
}


def test_valid_notes_pass():
    notes = validate_handoff("researcher", ResearchNotes, NOTES)
    assert notes.claims[0].doc_id == "pass"


@pytest.mark.parametrize(("change", "field"), [
    ({"claims": [{**NOTES["claims"][0], "doc_id": "lambda"}]}, None),   # cites unretrieved doc
    ({"queries": []}, "queries"),
    ({"support": 1.5}, "support"),
    ({"claims": [{**NOTES["claims"][0], "quote": "short"}]}, "claims.0.quote"),
    ({"extra": "field"}, "extra"),
])
def test_bad_research_notes_are_rejected(change, field):
    with pytest.raises(ContractError) as info:
        validate_handoff("researcher", ResearchNotes, {**NOTES, **change})
    assert info.value.step == "researcher"
    assert info.value.field == field
    assert str(info.value).startswith("researcher: ResearchNotes contract violated")


@pytest.mark.parametrize(("draft", "field"), [
    ({"answer": "   ", "citations": ["pass"], "confidence": 0.9}, "answer"),
    ({"answer": "ok", "citations": [], "confidence": 0.9}, "citations"),
    ({"answer": "ok", "citations": ["Not An Id"], "confidence": 0.9}, "citations"),
    ({"answer": "ok", "citations": ["pass", "pass"], "confidence": 0.9}, "citations"),
    ({"answer": "ok", "citations": ["pass"], "confidence": 2}, "confidence"),
])
def test_bad_drafts_are_rejected(draft, field):
    with pytest.raises(ContractError) as info:
        validate_handoff("writer", DraftAnswer, draft)
    assert (info.value.step, info.value.field) == ("writer", field)


def test_verdict_confidence_is_bounded():
    with pytest.raises(ContractError):
        validate_handoff("verifier", Verdict, {
            "citations_ok": True, "quotes_ok": True, "grounding": 1.0,
            "model_supported": None, "confidence": -0.1,
        })


def test_tool_response_schema_version_is_pinned():
    good = {"schema_version": "search_docs/1", "query": "q", "hits": []}
    assert SearchDocsOutput.model_validate(good).hits == []
    with pytest.raises(ValueError, match="search_docs/1"):
        SearchDocsOutput.model_validate({**good, "schema_version": "search_docs/2"})
