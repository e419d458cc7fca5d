"""From the reader's span scores to ranked, calibrated answer candidates.

Every span the reader proposes becomes a candidate with a few general features (how far it
beats "no answer" in its window, how it compares with the other candidates, the rank of its
passage, whether other articles give the same text, how closely the archive matches the
question). A logistic combiner, fitted on held-out questions by ``rag.reader.calibrate`` and
stored in the checkpoint's metadata, turns them into the probability that the candidate is a
right answer, the confidence shown to the user; a second logistic model, the ranker, predicts
the candidate's expected token F1 from the span features (``FEATURES``) and orders the
candidates.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from rag.reader.model import SpanScore
from rag.types import Passage

# what the ranker orders the candidates of one question by: the spans and their passages
FEATURES = ("margin", "span_prob", "best_margin", "lead", "inv_rank", "agreement", "words")
# what the confidence reads besides: how well the archive matches the question. People's questions
# over news and SQuAD's adversarial ones are right at different rates for the same span features;
# these tell the two kinds apart, so that one combiner is calibrated on both (docs/reader.md)
CONFIDENCE_FEATURES = FEATURES + ("top_dense", "passage_dense", "question_words")


@dataclass
class Candidate:
    """One answer span in one retrieved passage (offsets into the passage's document)."""

    passage: int  # index into the passages the reader read
    doc_id: str
    start: int
    end: int
    text: str
    span: SpanScore
    features: dict[str, float] = field(default_factory=dict)
    probability: float = 0.0  # calibrated P(right), the confidence shown
    rank_score: float = 0.0  # what the candidates are ordered by (see ``Combiner``)


_PUNCT = re.compile(r"[^\w\s]")


def normalize(text: str) -> str:
    """Lower case, punctuation out, white space collapsed: how two answers are compared."""
    return " ".join(_PUNCT.sub(" ", text.lower()).split())


def add_features(candidates: list[Candidate], passages: Sequence[Passage], question: str) -> None:
    """Fill ``features`` of every candidate of one question; ``passages`` are all the passages
    retrieved for it, best first (a candidate's ``passage`` indexes them)."""
    if not candidates:
        return
    dense = [p.dense_score for p in passages if p.dense_score is not None]
    # a passage that only BM25 found scored below every dense hit
    top_dense, lowest_dense = (max(dense), min(dense)) if dense else (0.0, 0.0)
    question_words = math.log1p(len(question.split()))
    best_margin = max(c.span.margin for c in candidates)
    by_passage: dict[int, list[Candidate]] = {}
    for c in candidates:
        by_passage.setdefault(c.passage, []).append(c)
    docs_by_text: dict[str, set[str]] = {}
    best_by_text: dict[str, float] = {}
    for c in candidates:
        key = normalize(c.text)
        docs_by_text.setdefault(key, set()).add(c.doc_id)
        best_by_text[key] = max(best_by_text.get(key, -math.inf), c.span.margin)
    for window in by_passage.values():
        # the share of the window's probability mass (no-answer included) each span holds
        logits = np.array([window[0].span.null_score] + [c.span.score for c in window])
        weights = np.exp(logits - logits.max())
        for c, weight in zip(window, weights[1:]):
            key = normalize(c.text)
            others = [m for t, m in best_by_text.items() if t != key]
            passage = passages[c.passage]
            c.features = {
                "margin": c.span.margin,
                "span_prob": float(weight / weights.sum()),
                "best_margin": best_margin,
                # how far it beats the best different answer (10 when it has no rival)
                "lead": c.span.margin - max(others) if others else 10.0,
                "inv_rank": 1.0 / passage.rank,
                "agreement": float(min(len(docs_by_text[key]) - 1, 3)),
                "words": math.log1p(len(c.text.split())),
                "top_dense": top_dense,
                "passage_dense": passage.dense_score if passage.dense_score is not None else lowest_dense,
                "question_words": question_words,
            }


@dataclass(frozen=True)
class Logistic:
    """Logistic regression over standardized features."""

    weights: dict[str, float]
    bias: float
    mean: dict[str, float]
    scale: dict[str, float]

    @classmethod
    def from_dict(cls, fitted: dict[str, Any]) -> "Logistic":
        return cls(fitted["weights"], fitted["bias"], fitted["mean"], fitted["scale"])

    def to_dict(self) -> dict[str, Any]:
        return {"weights": self.weights, "bias": self.bias, "mean": self.mean, "scale": self.scale}

    def __call__(self, features: dict[str, float]) -> float:
        z = self.bias + sum(
            w * (features[n] - self.mean[n]) / (self.scale[n] or 1.0) for n, w in self.weights.items()
        )
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))


@dataclass(frozen=True)
class Combiner:
    """Turns candidate features into a ranking and a confidence.

    ``confidence`` gives P(the candidate is a right answer: token F1 ≥ 0.5 against a gold answer);
    that is what the user sees and what the threshold applies to. ``ranker``, when fitted, predicts
    the candidate's expected token F1 and picks the answer: under the 0.5 rule a piece of a name
    ("Lindqvist" for "Marta Lindqvist") is as right as the whole, so ranking by the confidence
    alone favours short spans; the expected F1 prefers the whole answer.
    """

    confidence: Logistic
    threshold: float
    ranker: Logistic | None = None
    fitted: bool = True

    @classmethod
    def from_metadata(cls, metadata: dict[str, Any]) -> "Combiner":
        fitted = metadata.get("combiner")
        if fitted:
            ranker = Logistic.from_dict(fitted["ranker"]) if fitted.get("ranker") else None
            return cls(Logistic.from_dict(fitted), fitted["threshold"], ranker)
        # before calibration: the reader's own margin, squashed; a placeholder, marked unfitted
        zero = {name: 0.0 for name in FEATURES}
        return cls(Logistic({**zero, "margin": 1.0}, 0.0, zero, {n: 1.0 for n in FEATURES}), 0.5, fitted=False)

    def to_dict(self) -> dict[str, Any]:
        # the confidence model's keys stay at the top level, as in checkpoints without a ranker
        fitted = {**self.confidence.to_dict(), "threshold": self.threshold}
        return {**fitted, "ranker": self.ranker.to_dict()} if self.ranker else fitted

    def probability(self, features: dict[str, float]) -> float:
        return self.confidence(features)

    def rank_score(self, features: dict[str, float]) -> float:
        """What candidates are ordered by: the expected F1, or the confidence without a ranker."""
        return self.ranker(features) if self.ranker else self.confidence(features)

    def rank(self, candidates: list[Candidate]) -> list[Candidate]:
        """Candidates with their probability and rank score set, best first."""
        for c in candidates:
            c.probability = self.probability(c.features)
            c.rank_score = self.ranker(c.features) if self.ranker else c.probability
        return sorted(candidates, key=lambda c: -c.rank_score)


def distinct(candidates: Sequence[Candidate], n: int) -> list[Candidate]:
    """The ``n`` best candidates whose texts differ (one that contains or is inside a better
    one is the same answer)."""
    chosen: list[Candidate] = []
    for c in candidates:
        key = normalize(c.text)
        if not key:
            continue
        if any(key == normalize(o.text) or key in normalize(o.text) or normalize(o.text) in key for o in chosen):
            continue
        chosen.append(c)
        if len(chosen) == n:
            break
    return chosen
