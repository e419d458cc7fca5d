"""Extractive answers: retrieved passages → the trained reader's spans → ranked, cited answers."""
from __future__ import annotations

import re
import time
from typing import Any, Sequence

from rag.config import Config
from rag.embedding import Embedder
from rag.reader.model import Reader
from rag.reader.scoring import Candidate, Combiner, add_features, distinct, normalize
from rag.retrieval import Retriever, SearchFilter
from rag.store import Index
from rag.types import Answer, Citation, Passage, Span
from rag.validation import QuestionError, check_history, check_k, check_question

WITHHELD_MESSAGE = "The articles don't say. The closest passages are listed as related reading."


def withhold_record(record: dict[str, Any], threshold: float) -> dict[str, Any]:
    """A `rag ask --json` record as it reads when answers under ``threshold`` are withheld
    (what ``ask(..., threshold=threshold)`` returns), for sweeping thresholds over one run."""
    if record.get("abstained") or record["confidence"] >= threshold:
        return record
    return {**record, "answer": None, "sentence": None, "abstained": True, "citations": [],
            "alternatives": [], "message": WITHHELD_MESSAGE}


_FOLLOW_UP = re.compile(
    r"^(?:and|but|so|also|what about|how about)\b|\b(?:he|him|his|she|her|hers|they|them|their|it|its|this|that|these|those|there|then)\b",
    re.I,
)


def is_follow_up(question: str, history: Sequence[str]) -> bool:
    """A question that leans on the previous one: a pronoun, a leading "and", or ≤ 4 words."""
    return bool(history) and bool(_FOLLOW_UP.search(question) or len(question.split()) <= 4)


def retrieval_query(question: str, history: Sequence[str]) -> str:
    """The text to search with: a follow-up question carries the previous question along."""
    return f"{history[-1]} {question}" if is_follow_up(question, history) else question


def reader_question(question: str, history: Sequence[str]) -> str:
    """What the reader reads as the question: a follow-up comes first, the previous question
    after it as context (read the other way round, the reader tends to answer the earlier
    question; 3 of the sample set's 7 follow-ups right against 2, a small sign)."""
    return f"{question} {history[-1]}" if is_follow_up(question, history) else question


class Answerer:
    """Answers questions over one index with spans copied verbatim from the articles.

    Example:
        >>> answerer = Answerer(Index.open("index"), Embedder().warm_up()).warm_up()
        >>> answerer.ask("What reward did the US offer for information on Hafiz Saeed?").answer
        '$10 million'

    The reader (``rag/reader/checkpoint``) reads the best retrieved passages and proposes spans;
    the combiner fitted with it ranks them and gives each a calibrated confidence.
    ``ask(q)`` is ``ask_batch([q])[0]``, so the single and batch paths cannot drift.
    """

    def __init__(self, index: Index, embedder: Embedder, config: Config | None = None, *, reader: Reader | None = None):
        self.index = index
        self.embedder = embedder
        # the index fixes chunking and model; retrieval and answer settings are this run's
        self.config = config or Config()
        self.retriever = Retriever(index, embedder, self.config.retrieval)
        self.reader = reader or Reader()
        self.combiner = Combiner.from_metadata(self.reader.metadata)

    def warm_up(self) -> "Answerer":
        """Load the reader (the embedder is loaded by its owner); idempotent."""
        self.reader.warm_up()
        return self

    @property
    def reader_info(self) -> dict[str, str]:
        """The reader checkpoint's identity, recorded beside every answer."""
        return {"sha256": self.reader.sha256, "trained_at": self.reader.metadata.get("trained_at", "")}

    @property
    def threshold(self) -> float:
        """The default confidence under which answers are withheld: the configured one, else the
        one chosen with the combiner on held-out questions."""
        configured = self.config.answer.threshold
        return self.combiner.threshold if configured is None else configured

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
        answers: int = 1,
    ) -> list[Answer]:
        """Answer each question (with its conversation ``history``, oldest first).

        Args:
            k: passages retrieved per question and shown as evidence.
            mode: retrieval mode, "hybrid" (default), "dense" or "bm25".
            where: date-range / document filter.
            threshold: confidence under which an answer is withheld.
            answers: how many distinct answers to give (the best, then runners-up).
        Returns:
            One Answer per question; bad questions get an Answer with ``error`` set.
        """
        check_k(k)
        if answers < 1:
            raise ValueError(f"answers must be at least 1, not {answers}")
        self.warm_up()
        histories = histories or [[] for _ in questions]
        threshold = self.threshold if threshold is None else threshold
        results: list[Answer] = []
        for question, history in zip(questions, histories):
            started = time.perf_counter()
            try:
                question = check_question(question, self.config.answer)
                history = check_history(history, self.config.answer)
            except QuestionError as exc:
                results.append(Answer(question, None, None, True, 0.0, message=str(exc), error=str(exc)))
                continue
            query = retrieval_query(question, history)
            passages = self.retriever.search(
                query, k=max(k or self.config.retrieval.k, self.config.answer.passages), mode=mode, where=where,
            )
            if (mode or self.config.retrieval.mode) == "bm25":
                # the confidence was fitted on passages that carry their dense cosine (hybrid search)
                passages = self.retriever.with_dense_scores(query, passages)
            retrieved = time.perf_counter()
            answer = self._answer(question, reader_question(question, history), passages, threshold, answers)
            answer.passages = passages[: k or self.config.retrieval.k]
            answer.reader = self.reader_info
            done = time.perf_counter()
            answer.timings_ms = {
                "retrieve": (retrieved - started) * 1000,
                "answer": (done - retrieved) * 1000,
                "total": (done - started) * 1000,
            }
            results.append(answer)
        return results

    def candidates(self, question: str, passages: Sequence[Passage]) -> list[Candidate]:
        """Every span the reader proposes for ``question`` in the passages it reads, featured and
        ranked."""
        read = list(passages[: self.config.answer.reader_passages])
        spans = self.reader.read(question, [p.text for p in read], top_n=self.config.answer.spans_per_passage)
        found = []
        for span in spans:
            passage = read[span.context]
            text = passage.text[span.start : span.end]
            if not text.strip():
                continue
            found.append(Candidate(span.context, passage.doc_id, passage.start + span.start,
                                   passage.start + span.end, text, span))
        # the passages retrieved for answering, not the more a caller may show (``k``): the
        # features were fitted on that many
        add_features(found, passages[: self.config.answer.passages], question)
        return self.combiner.rank(found)

    def _answer(self, question: str, reading: str, passages: list[Passage], threshold: float, answers: int) -> Answer:
        ranked = self.candidates(reading, passages)
        best = distinct(ranked, answers)
        if not best or best[0].probability < threshold:
            confidence = best[0].probability if best else 0.0
            return Answer(question, None, None, True, confidence, message=WITHHELD_MESSAGE,
                          evidence=best[0].features if best else {})
        main, *others = [self._cited(question, c, ranked, passages) for c in best]
        main.alternatives = [o for o in others if o.confidence >= threshold]
        return main

    def _cited(self, question: str, candidate: Candidate, ranked: list[Candidate], passages: list[Passage]) -> Answer:
        """The answer with its sentence and citations: [1] the sentence(s) holding the span,
        then the same answer in near-duplicate articles and in other retrieved articles."""
        index = self.index
        text = index.document_text(candidate.doc_id)
        quote = self._sentence_around(candidate.doc_id, candidate.start, candidate.end)
        places = [(candidate.doc_id, quote)]
        wanted = normalize(candidate.text)
        twins = [
            (doc, start, end) for doc, start, end in passages[candidate.passage].duplicates
        ] + [
            (c.doc_id, c.start, c.end) for c in ranked if normalize(c.text) == wanted and c.doc_id != candidate.doc_id
        ]
        for doc, start, end in twins:
            if len(places) >= 5 or any(doc == d for d, _ in places):
                continue
            twin_text = index.document_text(doc)
            at = _find(twin_text, candidate.text, start, end)
            if at is not None:
                places.append((doc, self._sentence_around(doc, at, at + len(candidate.text))))
        citations = []
        for n, (doc_id, span) in enumerate(places, start=1):
            info = index.document(doc_id)
            citations.append(Citation(n, doc_id, info.title, info.date, span.start, span.end,
                                      index.document_text(doc_id)[span.start : span.end]))
        return Answer(
            question=question, answer=text[candidate.start : candidate.end],
            sentence=text[quote.start : quote.end], abstained=False, confidence=candidate.probability,
            citations=citations, answer_span=Span(candidate.start, candidate.end),
            evidence=dict(candidate.features),
        )

    def _sentence_around(self, doc_id: str, start: int, end: int) -> Span:
        """The sentence (or run of sentences) of ``doc_id`` that holds ``[start, end)``."""
        rows = self.index.sentence_rows_between(doc_id, 0, len(self.index.document_text(doc_id)))
        spans = [tuple(int(x) for x in self.index.sentence_span[r]) for r in rows]
        touching = [s for s in spans if s[0] < end and s[1] > start]
        if not touching:
            return Span(start, end)
        return Span(min(start, touching[0][0]), max(end, touching[-1][1]))


def _find(text: str, answer: str, start: int, end: int) -> int | None:
    """Where ``answer`` occurs in ``text`` inside ``[start, end)`` (a passage), else anywhere."""
    at = text.find(answer, start, end)
    if at < 0:
        at = text.find(answer)
    return at if at >= 0 else None
