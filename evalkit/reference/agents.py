"""The three single-responsibility agents: Researcher, Writer, Verifier.

Each agent does one job with one output contract:

* **Researcher** → :class:`ResearchNotes`: the model adds keyword queries to the
  question; code searches (BM25), reads the best topics, and ranks their sentences
  against the question, so every claim carries a verbatim quote and its doc id.
* **Writer** → :class:`DraftAnswer`: the model picks which evidence sentences answer
  the question and how sure it is; the answer is composed from those sentences, so
  it is grounded by construction and its citations are exact.
* **Verifier** → :class:`Verdict`: deterministic checks (citations ⊆ retrieved docs,
  quotes verbatim in the cited docs, grounding, relevance to the question) plus the
  model's yes/no support check where it can change the outcome, combined into a
  confidence that decides between answering and escalating.

A 135M-parameter model cannot write reliable prose or quote accurately; it can make
small, constrained choices. Deterministic code does the rest.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel, Field, create_model

from evalkit.errors import ConfigError
from evalkit.reference.contracts import (
    Claim,
    DraftAnswer,
    QueryPlan,
    ReadDocOutput,
    ResearchNotes,
    SearchDocsOutput,
    SearchHit,
    SupportCheck,
    ToolUnavailable,
    Verdict,
    validate_handoff,
)
from evalkit.reference.corpus import content_terms, normalize_ws, rank_sentences, sentences
from evalkit.reference.runtime import PipelineRun, StepFailed

CONFIDENCE_LEVELS = {"high": 0.9, "medium": 0.6, "low": 0.3}
_RRF_K = 60


# -- Researcher ------------------------------------------------------------------------


class Researcher:
    """Plans queries, searches, reads, and extracts quoted evidence."""

    name = "researcher"

    def __init__(self, run: PipelineRun) -> None:
        self.run = run
        params = run.params
        self.search_k = int(params.get("search_k", 4))
        self.read_k = int(params.get("read_k", 2))
        self.evidence_k = int(params.get("evidence_k", 4))
        self.search_question = bool(params.get("search_question", True))
        self.searched: dict[str, Any] = {}
        """The search step's result: per-query results, fused ``ranking``, ``degraded``."""
        self.docs: dict[str, dict[str, str]] = {}
        """The topics read: ``{doc_id: {"title", "text"}}`` (the Verifier checks quotes in them)."""

    async def research(self, question: str) -> ResearchNotes:
        """Run plan → search → read → evidence, each step checkpointed."""
        run = self.run
        queries: list[str] = await run.step("plan", lambda: self.plan(question))
        searched: dict[str, Any] = await run.step("search", lambda: self.search(queries))
        read: dict[str, Any] = await run.step(
            "read", lambda: self.read(searched["ranking"])
        )
        self.searched, self.docs = searched, read["docs"]
        notes = self.evidence(question, queries, searched, read)
        return validate_handoff(self.name, ResearchNotes, notes)

    async def plan(self, question: str) -> list[str]:
        """The question itself, plus up to two keyword queries from the model.

        BM25 on the question alone is a strong baseline (measured on
        ``pydocs_retrieval``), so it anchors the search; the model's queries add
        the names a question may not spell out ("anonymous function" → "lambda").
        ``params.search_question: false`` searches the model's queries only (the
        question is the fallback when none is usable), which isolates the model's
        contribution in a component eval.
        """
        from evalkit.model import StructuredOutputError

        prompt = self.run.prompt(self.name)
        try:
            reply = await self.run.llm(prompt, schema=QueryPlan, max_tokens=80,
                                       values={"question": question})
            proposed = list(reply.parsed.queries)
        except StructuredOutputError:
            proposed = []
        anchor = normalize_ws(question)[:200]
        asked = set(content_terms(question))
        examples = prompt.system.lower()
        queries: list[str] = [anchor] if self.search_question else []
        for q in proposed:
            q = normalize_ws(q)[:200]
            terms = content_terms(q)
            # Small models echo their few-shot examples: a query copied from the
            # prompt that shares no word with the question is dropped.
            echo = f'"{q.lower()}"' in examples and not asked.intersection(terms)
            if terms and not echo and q.lower() not in {x.lower() for x in queries}:
                queries.append(q)
        return queries[:3] or [anchor]

    async def search(self, queries: list[str]) -> dict[str, Any]:
        """Search every query; fall back (degraded) when search is unavailable."""
        run = self.run
        results: list[dict[str, Any]] = []
        good_hits: list[SearchHit] = []
        degraded = False
        for query in queries:
            out = await run.tools.search_docs(query, k=self.search_k)
            if isinstance(out, ToolUnavailable):
                degraded = True
                out = self._fallback(query, good_hits, out)
            else:
                good_hits.extend(out.hits)
            results.append(out.model_dump())
        fused: dict[str, float] = {}
        for res in results:
            for rank, hit in enumerate(res["hits"]):
                fused[hit["doc_id"]] = fused.get(hit["doc_id"], 0.0) + 1.0 / (_RRF_K + rank)
        # Ties (a topic first for one query, another first for the next) go to the
        # topic the question itself ranked higher.
        anchor = {h["doc_id"]: i for i, h in enumerate(results[0]["hits"])} if results else {}
        ranking = sorted(fused, key=lambda d: (-fused[d], anchor.get(d, len(anchor)), d))
        if self.search_question and results and results[0]["hits"]:
            # The question's own best hit is always read first: the model's queries
            # may add topics, never outvote the question (two off-target queries
            # agreeing on a wrong topic did, in pydocs_workflow runs).
            top = results[0]["hits"][0]["doc_id"]
            ranking = [top, *(d for d in ranking if d != top)]
        return {"results": results, "ranking": ranking, "degraded": degraded}

    def _fallback(
        self, query: str, good_hits: list[SearchHit], why: ToolUnavailable
    ) -> SearchDocsOutput:
        """Last good results of this run, else the cached keyword index."""
        if good_hits:
            hits = list({h.doc_id: h for h in good_hits}.values())[: self.search_k]
            source = "last_good_results"
        else:
            corpus = self.run.corpus
            hits = [
                SearchHit(doc_id=d, title=corpus.get(d).title, score=s,
                          snippet=corpus.get(d).title)
                for d, s in corpus.keyword_search(query, self.search_k)
            ]
            source = "keyword_index"
        with self.run.ctx.tracer.span("search_fallback", attributes={
            "evalkit.fallback.source": source, "evalkit.fallback.reason": why.reason,
            "evalkit.degraded": True,
        }):
            pass
        return SearchDocsOutput(query=query, hits=hits, degraded=True)

    async def read(self, ranking: list[str]) -> dict[str, Any]:
        """Read the best ``read_k`` topics, skipping ones that cannot be read."""
        docs: dict[str, dict[str, str]] = {}
        unavailable: list[dict[str, Any]] = []
        for doc_id in ranking[: self.read_k + 2]:
            if len(docs) >= self.read_k:
                break
            out = await self.run.tools.read_doc(doc_id)
            if isinstance(out, ReadDocOutput):
                docs[doc_id] = {"title": out.title, "text": out.text}
            else:
                unavailable.append(out.model_dump())
        if ranking and not docs:
            raise StepFailed(
                f"no document could be read ({len(unavailable)} unavailable)",
                step=self.name, error_type="ToolUnavailable",
            )
        return {"docs": docs, "unavailable": unavailable}

    def evidence(
        self, question: str, queries: list[str], searched: dict[str, Any],
        read: dict[str, Any],
    ) -> dict[str, Any]:
        """Rank the read topics' sentences against the question: the claims."""
        docs: dict[str, dict[str, str]] = read["docs"]
        # Topics embed each other ("in" is part of "comparisons"): a sentence seen in a
        # better-ranked topic is not offered again.
        seen: set[str] = set()
        candidates: list[tuple[str, str]] = []
        for doc_id, doc in docs.items():
            for sentence in sentences(doc["text"]):
                if sentence not in seen:
                    seen.add(sentence)
                    candidates.append((doc_id, sentence))
        # Sentences of the better-ranked topic win ties: a topic's search rank is
        # evidence that its sentences are on topic.
        prior = {d: 1.0 / (1.0 + 0.25 * rank) for rank, d in enumerate(docs)}
        # Evidence is ranked against the user's question only: the model's queries
        # widen the search, but they must not decide what counts as an answer.
        ranked = rank_sentences(
            question, candidates, k=self.evidence_k,
            context={d: doc["title"] for d, doc in docs.items()}, prior=prior,
        )
        claims = [{"text": s, "doc_id": d, "quote": s} for d, s, _ in ranked]
        # Answerability: how much of the question (IDF-weighted) the topics read
        # contain at all. Out-of-scope questions hinge on words the corpus lacks.
        read_text = " ".join(f"{doc['title']} {doc['text']}" for doc in docs.values())
        support = self.run.corpus.coverage(question, read_text)
        return {
            "question": question,
            "queries": queries,
            "retrieved": list(docs),
            "claims": claims,
            "support": round(support, 4),
            "degraded": bool(searched["degraded"]),
        }


# -- Writer ----------------------------------------------------------------------------


@lru_cache(maxsize=16)
def pick_schema(n: int) -> type[BaseModel]:
    """``{"chosen": [1..n], "confidence": "high"|"medium"|"low"}`` for *n* sentences.

    The field names sort in the order the model should decide them (clients may
    sort schema keys when building a grammar): first the choice, then confidence.
    """
    numbers = Literal[tuple(range(1, n + 1))]  # type: ignore[valid-type]
    model: type[BaseModel] = create_model(
        "EvidenceChoice",
        chosen=(list[numbers], Field(min_length=1, max_length=2)),  # type: ignore[valid-type]
        confidence=(Literal["high", "medium", "low"], ...),
    )
    return model


def format_evidence(claims: list[Claim], limit: int = 160) -> str:
    """Numbered evidence lines as the Writer sees them: ``1. [doc] sentence``.

    Long sentences are cut to *limit* characters for the prompt only (prompt tokens
    are the embedded model's main cost); the claim keeps the full quote.
    """
    lines = []
    for i, claim in enumerate(claims, start=1):
        quote = claim.quote if len(claim.quote) <= limit else claim.quote[: limit - 1] + "…"
        lines.append(f"{i}. [{claim.doc_id}] {quote}")
    return "\n".join(lines)


class Writer:
    """Chooses the evidence that answers the question and composes the draft."""

    name = "writer"

    def __init__(self, run: PipelineRun) -> None:
        self.run = run

    async def write(self, notes: ResearchNotes) -> DraftAnswer:
        """Ask the model which sentences answer; compose and validate the draft."""
        claims = notes.claims
        prompt = self.run.prompt(self.name)
        reply = await self.run.llm(
            prompt, schema=pick_schema(len(claims)), max_tokens=40,
            values={"question": notes.question, "evidence": format_evidence(claims)},
        )
        chosen: list[int] = []
        for n in reply.parsed.chosen:
            if n not in chosen:
                chosen.append(int(n))
        picked = [claims[n - 1] for n in chosen]
        answer = " ".join(f"{c.quote} [{c.doc_id}]" for c in picked)
        citations = list(dict.fromkeys(c.doc_id for c in picked))
        draft = {
            "answer": answer,
            "citations": citations,
            "confidence": CONFIDENCE_LEVELS[reply.parsed.confidence],
        }
        return validate_handoff(self.name, DraftAnswer, draft)


# -- Verifier --------------------------------------------------------------------------

_CITATION_MARK = r"\s*\[[a-z][a-z0-9-]*\]"


def verifier_mode(params: Mapping[str, Any]) -> str:
    """``params.verifier_llm`` as ``auto``, ``always`` or ``never``.

    Raises:
        ConfigError: any other value.
    """
    mode = params.get("verifier_llm", "auto")
    if mode is True or mode == "always":
        return "always"
    if mode is False or mode == "never":
        return "never"
    if mode == "auto":
        return "auto"
    raise ConfigError(f"expected auto, true or false, got {mode!r}", key="params.verifier_llm")


class Verifier:
    """Checks a draft against the documents and combines the checks into confidence."""

    name = "verifier"

    def __init__(self, run: PipelineRun) -> None:
        self.run = run
        self.mode = verifier_mode(run.params)
        escalation = run.params.get("escalation") or {}
        self.threshold = float(escalation.get("confidence_threshold", 0.5))

    def _model_check_decides(self, **signals: Any) -> bool:
        """Whether the model's yes/no can flip the escalation decision.

        In ``auto`` mode the model check runs only then: when every deterministic
        check already puts the confidence on one side of the threshold whatever the
        model says, its call would cost tokens and change nothing.
        """
        if self.mode != "auto":
            return self.mode == "always"
        low = combine_confidence(model_supported=False, **signals)
        high = combine_confidence(model_supported=True, **signals)
        return low < self.threshold <= high

    async def verify(
        self, notes: ResearchNotes, draft: DraftAnswer, docs: dict[str, dict[str, str]]
    ) -> Verdict:
        """Run the deterministic checks, then the model check if it can matter."""
        import re

        problems: list[str] = []
        stray = [c for c in draft.citations if c not in notes.retrieved]
        citations_ok = not stray
        if stray:
            problems.append(f"cited but not retrieved: {', '.join(stray)}")
        quotes_ok = True
        for doc_id in draft.citations:
            doc = docs.get(doc_id)
            quotes = [c.quote for c in notes.claims if c.doc_id == doc_id]
            text = normalize_ws(doc["text"]) if doc else ""
            if not quotes or not all(normalize_ws(q) in text for q in quotes):
                quotes_ok = False
                problems.append(f"no verbatim supporting quote in {doc_id}")
        answer_text = re.sub(_CITATION_MARK, " ", draft.answer)
        evidence_text = " ".join(c.quote for c in notes.claims if c.doc_id in draft.citations)
        answer_terms = set(content_terms(answer_text))
        grounding = (len(answer_terms & set(content_terms(evidence_text))) / len(answer_terms)
                     if answer_terms else 0.0)
        titles = " ".join(docs[d]["title"] for d in draft.citations if d in docs)
        relevance = self.run.corpus.coverage(notes.question, f"{answer_text} {titles}")
        if relevance < 0.5:
            problems.append(f"answer covers {relevance:.0%} of the question's terms")
        signals: dict[str, Any] = {
            "citations_ok": citations_ok, "quotes_ok": quotes_ok, "grounding": grounding,
            "relevance": relevance, "writer_confidence": draft.confidence,
        }
        model_supported: bool | None = None
        if citations_ok and quotes_ok and self._model_check_decides(**signals):
            prompt = self.run.prompt(self.name)
            reply = await self.run.llm(
                prompt, schema=SupportCheck, max_tokens=16,
                values={"question": notes.question, "answer": answer_text.strip()},
            )
            model_supported = bool(reply.parsed.supported)
            if not model_supported:
                problems.append("the model check says the answer is not supported")
        confidence = combine_confidence(model_supported=model_supported, **signals)
        return validate_handoff(self.name, Verdict, {
            "citations_ok": citations_ok,
            "quotes_ok": quotes_ok,
            "grounding": round(grounding, 4),
            "model_supported": model_supported,
            "confidence": confidence,
            "problems": problems,
        })


def combine_confidence(
    *, citations_ok: bool, quotes_ok: bool, grounding: float, relevance: float,
    writer_confidence: float, model_supported: bool | None,
) -> float:
    """One number in [0, 1]: hard checks gate, soft signals weigh in.

    A draft that cites unretrieved docs or misquotes them is capped at 0.1. Otherwise
    relevance to the question weighs most (0.45), then grounding (0.25), the Writer's
    own confidence (0.15) and the model check (0.15; neutral 0.5 when not run).
    """
    if not (citations_ok and quotes_ok):
        return 0.1
    model = 0.5 if model_supported is None else float(model_supported)
    value = 0.45 * relevance + 0.25 * grounding + 0.15 * writer_confidence + 0.15 * model
    return round(min(1.0, max(0.0, value)), 4)
