"""Schemas at every boundary: tool inputs and outputs, and the handoffs between agents.

Each tool schema carries a ``schema_version``; a response that does not validate
against the version the caller pinned raises :class:`~evalkit.errors.ContractError`
and is never passed on. Each handoff (Researcher → Writer → Verifier) is validated
with :func:`validate_handoff`, which names the step that broke its contract.

The schemas the *model* fills (``QueryPlan``, ``EvidencePick``, ``WriterDraft``,
``SupportCheck``) are deliberately looser than the handoff contracts: constrained
decoding guarantees their shape, the contracts then check their meaning.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from evalkit.errors import ContractError

DOC_ID_PATTERN = r"^[a-z][a-z0-9-]{0,39}$"
SEARCH_DOCS_VERSION: Literal["search_docs/1"] = "search_docs/1"
READ_DOC_VERSION: Literal["read_doc/1"] = "read_doc/1"

M = TypeVar("M", bound=BaseModel)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# -- tools -------------------------------------------------------------------------


class SearchDocsInput(_Strict):
    """Arguments of ``search_docs``."""

    query: str = Field(min_length=1, max_length=200)
    """Keywords to search the documentation topics for."""
    k: int = Field(default=4, ge=1, le=10)
    """How many hits to return."""


class SearchHit(_Strict):
    """One search result."""

    doc_id: str = Field(pattern=DOC_ID_PATTERN)
    """Topic key, e.g. ``assert``."""
    title: str
    """The topic's title line."""
    score: float = Field(ge=0)
    """BM25 score (higher is better; not comparable across queries)."""
    snippet: str = Field(max_length=400)
    """The best-matching sentence of the topic, or its opening."""


class SearchDocsOutput(_Strict):
    """Response of ``search_docs``."""

    schema_version: Literal["search_docs/1"] = SEARCH_DOCS_VERSION
    """Pinned response schema; any other value is schema drift."""
    query: str
    """The query that was run."""
    hits: list[SearchHit]
    """Best first."""
    degraded: bool = False
    """True when served by the fallback (last good results or keyword index)."""


class ReadDocInput(_Strict):
    """Arguments of ``read_doc``."""

    doc_id: str = Field(pattern=DOC_ID_PATTERN)
    """Topic key to read."""


class ReadDocOutput(_Strict):
    """Response of ``read_doc``."""

    schema_version: Literal["read_doc/1"] = READ_DOC_VERSION
    """Pinned response schema; any other value is schema drift."""
    doc_id: str = Field(pattern=DOC_ID_PATTERN)
    """The topic read."""
    title: str
    """The topic's title line."""
    text: str = Field(min_length=1)
    """Full topic text."""


class ToolUnavailable(_Strict):
    """Structured signal returned instead of a result when a tool cannot be used."""

    tool: str
    """The tool that is unavailable."""
    reason: Literal["circuit_open", "retries_exhausted", "contract_violation", "error"]
    """Why: the breaker is open, transient failures outlasted retries, the response
    broke its schema, or a non-retryable error."""
    error_type: str | None = None
    """Type of the last error, when there was one."""
    message: str = ""
    """Human-readable detail."""
    retry_after_s: float | None = None
    """When the breaker will let a trial call through again."""


# -- what the model fills ------------------------------------------------------------


class QueryPlan(BaseModel):
    """The Researcher's search plan (model output)."""

    queries: list[Annotated[str, Field(max_length=40)]] = Field(min_length=1, max_length=3)
    """One to three short keyword queries (bounded so decoding cannot run away)."""


class EvidencePick(BaseModel):
    """The Researcher's choice among numbered candidate sentences (model output)."""

    picks: list[int] = Field(min_length=1, max_length=3)
    """Numbers of the sentences that answer the question."""


class WriterDraft(BaseModel):
    """The Writer's answer (model output)."""

    answer: str
    """The answer text."""
    citations: list[str]
    """Doc ids the answer relies on."""
    confidence: float
    """Self-reported confidence in [0, 1]."""


class SupportCheck(BaseModel):
    """The Verifier's model check (model output)."""

    supported: bool
    """Whether the evidence supports the answer."""


# -- handoffs ------------------------------------------------------------------------


class Claim(_Strict):
    """A statement with the document and the verbatim quote that support it."""

    text: str = Field(min_length=1)
    """The claim, in the Researcher's words (here: the quoted sentence)."""
    doc_id: str = Field(pattern=DOC_ID_PATTERN)
    """Topic the claim comes from."""
    quote: str = Field(min_length=10, max_length=400)
    """A verbatim sentence of that topic."""


class ResearchNotes(_Strict):
    """Researcher → Writer handoff."""

    question: str = Field(min_length=1)
    """The user's question, unchanged."""
    queries: list[str] = Field(min_length=1, max_length=3)
    """Queries that were searched."""
    retrieved: list[str]
    """Doc ids retrieved and read, best first."""
    claims: list[Claim]
    """Evidence for the Writer (empty when nothing relevant was found)."""
    support: float = Field(ge=0, le=1)
    """Share of the question's content words found in the evidence (answerability)."""
    degraded: bool = False
    """True when search fell back to a degraded source."""

    @model_validator(mode="after")
    def _claims_cite_retrieved(self) -> ResearchNotes:
        for i, claim in enumerate(self.claims):
            if claim.doc_id not in self.retrieved:
                raise ValueError(
                    f"claims[{i}].doc_id {claim.doc_id!r} is not among retrieved docs"
                )
        return self


class DraftAnswer(_Strict):
    """Writer → Verifier handoff."""

    answer: str = Field(min_length=1, max_length=1500)
    """The answer text (never blank)."""
    citations: list[str] = Field(min_length=1, max_length=5)
    """Doc ids cited, at least one."""
    confidence: float = Field(ge=0, le=1)
    """The Writer's confidence."""

    @field_validator("answer")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip() or not re.search(r"\w", value):
            raise ValueError("answer is blank")
        return value

    @field_validator("citations")
    @classmethod
    def _doc_ids(cls, value: list[str]) -> list[str]:
        for i, doc_id in enumerate(value):
            if not re.match(DOC_ID_PATTERN, doc_id):
                raise ValueError(f"citations[{i}] {doc_id!r} is not a doc id")
        if len(set(value)) != len(value):
            raise ValueError("citations repeat a doc id")
        return value


class Verdict(_Strict):
    """Verifier output: deterministic checks, the model check and a confidence."""

    citations_ok: bool
    """Every citation is among the retrieved docs."""
    quotes_ok: bool
    """Every cited doc has a supporting quote that appears verbatim in it."""
    grounding: float = Field(ge=0, le=1)
    """Share of the answer's content words found in the cited evidence."""
    model_supported: bool | None
    """The model's own support check (None when it could not be run)."""
    confidence: float = Field(ge=0, le=1)
    """Combined confidence that the answer is supported."""
    problems: list[str] = Field(default_factory=list)
    """What failed, in words."""


def validate_handoff(step: str, model: type[M], data: Any) -> M:
    """Validate *data* against the handoff contract *model* of *step*.

    Raises:
        ContractError: naming *step* and the first offending field.

    Example::

        notes = validate_handoff("researcher", ResearchNotes, raw_notes)
    """
    if isinstance(data, model):
        data = data.model_dump()
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or None
        raise ContractError(
            f"{model.__name__} contract violated: {err['msg']}"
            + (f" at {field}" if field else ""),
            step=step,
            field=field,
        ) from None
