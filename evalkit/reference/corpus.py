"""The corpus: the standard library's documentation topics (``pydoc_data.topics``).

Every CPython ships these 79 topics (the text behind ``help("assert")``), so the
reference pipeline runs offline with no download. A topic's id is its key
(``"assert"``, ``"typesseq-mutable"``); its title is the first line of its text.

Search is BM25 from the ``bm25s`` package: one index over the topic texts, one over
their titles and ids, scores added. Evidence selection splits a topic into prose
sentences and ranks them with a small per-call BM25 index, so the quotes the
pipeline cites are always verbatim spans of a topic.
"""

from __future__ import annotations

import hashlib
import keyword
import math
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

_WS = re.compile(r"\s+")
_SENTENCE_END = re.compile(r"(?<=[.!?:])\s+(?=[A-Z\"*(])")
_WORD = re.compile(r"(?u)\b\w\w+\b")
_IDENT = re.compile(r"\w*_\w*")
_HEADING_RULE = re.compile(r"^[*=\-~^]{3,}\s*$")
TITLE_WEIGHT = 1.0
"""Weight of the title/id BM25 score relative to the body score."""

# Small English stop-word list without Python's keywords: bm25s's built-in list
# drops words such as "with", "is", "not" and "for" that name Python statements.
STOPWORDS = frozenset(
    """a an are at be by can could do does how i into it its me my of on so than that
    the their them then there these they this to use used using was what when where
    which who why will would you your about please tell explain mean means happen
    happens python should""".split()
) - frozenset(keyword.kwlist)


def normalize_ws(text: str) -> str:
    """Collapse every run of whitespace to one space and strip the ends."""
    return _WS.sub(" ", text).strip()


def stem(word: str) -> str:
    """A deliberately light English stemmer: plural and third-person ``-s`` only.

    PyStemmer is not a dependency; this keeps "statements" ≈ "statement" and
    "raises" ≈ "raise" without the over-stemming that hurts identifiers
    ("__class__", "is", "pass" stay as they are).
    """
    if word.startswith("_") or len(word) <= 3:
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "xes", "ches", "shes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def content_terms(text: str) -> list[str]:
    """Lower-cased, stemmed words of *text* minus stop words (order kept)."""
    return [stem(w) for w in _WORD.findall(split_identifiers(text).lower()) if w not in STOPWORDS]


@dataclass(frozen=True, slots=True)
class Topic:
    """One documentation topic."""

    doc_id: str
    title: str
    text: str

    @property
    def normalized(self) -> str:
        """The text with whitespace collapsed (what quote checks compare against)."""
        return _normalized_text(self.doc_id, self.text)


@lru_cache(maxsize=256)
def _normalized_text(doc_id: str, text: str) -> str:
    return normalize_ws(text)


def _title_of(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


class Corpus:
    """The topics, their titles, a BM25 index and a keyword fallback index."""

    def __init__(self, topics: dict[str, str]) -> None:
        self._topics = {
            key: Topic(key, _title_of(text), text) for key, text in sorted(topics.items())
        }
        self.doc_ids: tuple[str, ...] = tuple(self._topics)
        digest = hashlib.sha256()
        for key in self.doc_ids:
            digest.update(key.encode())
            digest.update(b"\x00")
            digest.update(self._topics[key].text.encode())
            digest.update(b"\x00")
        self.hash = digest.hexdigest()
        self.version = f"pydoc_data-py{sys.version_info.major}.{sys.version_info.minor}"
        self._bm25: Any = None
        self._keywords: dict[str, frozenset[str]] | None = None
        self._df: dict[str, int] | None = None

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self._topics

    def __len__(self) -> int:
        return len(self._topics)

    def get(self, doc_id: str) -> Topic:
        """The topic *doc_id* (KeyError when absent)."""
        return self._topics[doc_id]

    # -- BM25 ------------------------------------------------------------------------

    def _indexes(self) -> tuple[Any, Any]:
        if self._bm25 is None:
            import bm25s

            body = bm25s.BM25()
            body.index(_tokenize([t.text for t in self._topics.values()]), show_progress=False)
            # A second index over titles and ids: words such as "with" or "in" occur in
            # every topic (IDF near zero) but name exactly one or two topics.
            titles = bm25s.BM25()
            heads = [f"{t.title} {t.doc_id.replace('-', ' ')}" for t in self._topics.values()]
            titles.index(_tokenize(heads), show_progress=False)
            self._bm25 = (body, titles)
        return self._bm25  # type: ignore[no-any-return]

    def search(self, query: str, k: int = 5) -> list[tuple[str, float]]:
        """Top *k* ``(doc_id, score)`` for *query*; empty when nothing matches.

        The score is BM25 over the topic text plus BM25 over its title and id.
        """
        import numpy as np

        terms = _tokenize_query(query)
        if not terms:
            return []
        body, titles = self._indexes()
        scores = _scores(body, terms) + TITLE_WEIGHT * _scores(titles, terms)
        k = max(1, min(k, len(self.doc_ids)))
        order = np.argsort(-scores, kind="stable")[:k]
        return [
            (self.doc_ids[int(i)], round(float(scores[i]), 4)) for i in order if scores[i] > 0
        ]

    # -- term weights ----------------------------------------------------------------

    def idf(self, term: str) -> float:
        """BM25-style inverse document frequency of a (stemmed) term over the topics.

        A term no topic contains gets the highest weight: a question about "pandas"
        hinges on the word the documentation does not have.
        """
        if self._df is None:
            df: dict[str, int] = {}
            for topic in self._topics.values():
                for term_ in set(content_terms(f"{topic.title} {topic.text}")):
                    df[term_] = df.get(term_, 0) + 1
            self._df = df
        n = len(self._topics)
        freq = self._df.get(term, 0)
        return math.log(1.0 + (n - freq + 0.5) / (freq + 0.5))

    def coverage(self, asked: str, found_in: str) -> float:
        """IDF-weighted share of *asked*'s content terms that occur in *found_in*.

        Words every topic has ("is", "statement") barely count; rare or unknown words
        count most. 0.0 when *asked* has no content terms.
        """
        terms = set(content_terms(asked))
        if not terms:
            return 0.0
        present = set(content_terms(found_in))
        total = sum(self.idf(t) for t in terms)
        hit = sum(self.idf(t) for t in terms if t in present)
        return round(hit / total, 4) if total > 0 else 0.0

    # -- keyword fallback ------------------------------------------------------------

    def keyword_search(self, query: str, k: int = 5) -> list[tuple[str, float]]:
        """Degraded search: overlap of query terms with each topic's title and id.

        Used only when ``search_docs`` is unavailable. It needs no BM25 state beyond
        a small cached map, so it keeps working when the search tool does not.
        """
        if self._keywords is None:
            self._keywords = {
                t.doc_id: frozenset(content_terms(f"{t.title} {t.doc_id.replace('-', ' ')}"))
                for t in self._topics.values()
            }
        terms = set(content_terms(query))
        scored = []
        for doc_id, words in self._keywords.items():
            overlap = len(terms & words)
            if overlap:
                scored.append((doc_id, overlap / (len(words) ** 0.5)))
        scored.sort(key=lambda item: (-item[1], item[0]))
        return [(d, round(s, 4)) for d, s in scored[:k]]


def split_identifiers(text: str) -> str:
    """Split ``snake_case`` words into words; dunder names such as ``__init__`` stay whole."""
    return _IDENT.sub(lambda m: m.group(0) if m.group(0).startswith("__")
                      else m.group(0).replace("_", " "), text)


def _tokenize_query(text: str) -> list[str]:
    return content_terms(text)


def _scores(retriever: Any, terms: list[str]) -> Any:
    import numpy as np

    known = [t for t in terms if t in retriever.vocab_dict]
    if not known:
        return np.zeros(retriever.scores["num_docs"], dtype=np.float32)
    return retriever.get_scores(known)


def _tokenize(texts: Sequence[str]) -> Any:
    import bm25s

    return bm25s.tokenize(
        [split_identifiers(t) for t in texts], stopwords=sorted(STOPWORDS),
        stemmer=_stem_many, show_progress=False,
    )


def _stem_many(words: Iterable[str]) -> list[str]:
    return [stem(w) for w in words]


@lru_cache(maxsize=1)
def default_corpus() -> Corpus:
    """The corpus of the running Python (built once per process)."""
    from pydoc_data.topics import topics

    return Corpus(dict(topics))


def _is_prose(paragraph: str) -> bool:
    """Whether a whitespace-normalised block reads as prose (not grammar or code)."""
    if "::=" in paragraph or ">>>" in paragraph or len(paragraph) < 20:
        return False
    if not paragraph.rstrip("\"')]*").endswith((".", ":", ";", "?", "!")):
        return False
    wordy = sum(ch.isalpha() or ch.isspace() for ch in paragraph)
    return wordy / len(paragraph) >= 0.75


def sentences(text: str) -> list[str]:
    """Prose sentences of a topic, whitespace-normalised; grammar and code left out.

    Blocks (separated by blank lines) are kept when they read as prose: they end
    like a sentence, have no grammar rule (``::=``) or prompt (``>>>``), and are
    mostly letters. Indented prose, such as a method's description, is kept.
    """
    out: list[str] = []
    for block in re.split(r"\n\s*\n", text):
        lines = block.splitlines()
        if not lines or any(_HEADING_RULE.match(x) for x in lines):
            continue
        paragraph = normalize_ws(block)
        if not _is_prose(paragraph):
            continue
        for sentence in _SENTENCE_END.split(paragraph):
            sentence = sentence.strip()
            if 20 <= len(sentence) <= 400:
                out.append(sentence)
    return out


def rank_sentences(
    question: str,
    candidates: Sequence[tuple[str, str]],
    k: int = 6,
    *,
    context: Mapping[str, str] | None = None,
    prior: Mapping[str, float] | None = None,
) -> list[tuple[str, str, float]]:
    """Rank ``(doc_id, sentence)`` pairs against *question* with BM25.

    Args:
        question: the text to match (question plus queries).
        candidates: the sentences, each with its topic.
        k: how many to return.
        context: text indexed with every sentence of a topic (its title), so a
            sentence of the "pass" topic matches "pass statement" even when the
            sentence itself only says "it".
        prior: a multiplier per topic (e.g. from its search rank).

    Returns:
        At most *k* ``(doc_id, sentence, score)`` with a positive score, best first.
        A fresh tiny index per call: a few hundred sentences index in a few ms.
    """
    if not candidates or not content_terms(question):
        return []
    import bm25s
    import numpy as np

    context = context or {}
    prior = prior or {}
    retriever = bm25s.BM25()
    retriever.index(_tokenize([f"{context.get(d, '')} {s}" for d, s in candidates]),
                    show_progress=False)
    scores = _scores(retriever, content_terms(question))
    weights = np.array([prior.get(d, 1.0) for d, _ in candidates], dtype=np.float32)
    scores = scores * weights
    order = np.argsort(-scores, kind="stable")[: min(k, len(candidates))]
    out: list[tuple[str, str, float]] = []
    for index in order:
        if scores[index] > 0:
            doc_id, sentence = candidates[int(index)]
            out.append((doc_id, sentence, round(float(scores[index]), 4)))
    return out
