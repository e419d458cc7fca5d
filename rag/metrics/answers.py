"""Answer scores (SQuAD normalisation, exact match, token F1, contains-gold) and the helpers that
pair gold records with prediction records."""

from __future__ import annotations

import re
import string
from collections import Counter
from typing import Any, Iterable, Sequence

import numpy as np

PUNCTUATION = frozenset(string.punctuation) | frozenset("‘’“”–—…")
ARTICLES_RE = re.compile(r"\b(a|an|the)\b")

Record = dict[str, Any]


def normalize_answer(text: str) -> str:
    """SQuAD normalization: lower-case, strip punctuation and articles, collapse spaces."""
    lowered = text.lower()
    no_punct = "".join(ch for ch in lowered if ch not in PUNCTUATION)
    no_articles = ARTICLES_RE.sub(" ", no_punct)
    return " ".join(no_articles.split())


def _is_empty(text: str | None) -> bool:
    return text is None or not text.strip()


def _unanswerable_score(prediction: str | None) -> float:
    # SQuAD 2.0: the only right reply to an unanswerable question is no answer.
    return 1.0 if _is_empty(prediction) else 0.0


def _single_f1(prediction: str, gold: str) -> float:
    pred_tokens = normalize_answer(prediction).split()
    gold_tokens = normalize_answer(gold).split()
    if not pred_tokens or not gold_tokens:
        return float(pred_tokens == gold_tokens)
    overlap = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())
    if overlap == 0:
        return 0.0
    precision = overlap / len(pred_tokens)
    recall = overlap / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def exact_match(prediction: str | None, golds: list[str]) -> float:
    """Max exact match over golds after normalization (SQuAD 2.0 for unanswerable)."""
    if not golds:
        return _unanswerable_score(prediction)
    if _is_empty(prediction):
        return 0.0
    pred = normalize_answer(prediction)
    return max(float(pred == normalize_answer(gold)) for gold in golds)


def token_f1(prediction: str | None, golds: list[str]) -> float:
    """Max bag-of-tokens F1 over golds (SQuAD 2.0 for unanswerable)."""
    if not golds:
        return _unanswerable_score(prediction)
    if _is_empty(prediction):
        return 0.0
    return max(_single_f1(prediction, gold) for gold in golds)


def contains_normalized(haystack: str, golds: Iterable[str]) -> bool:
    # Padding with spaces makes the substring test respect word boundaries.
    padded = f" {normalize_answer(haystack)} "
    for gold in golds:
        norm_gold = normalize_answer(gold)
        # A gold that normalizes to nothing (e.g. "The") would match everything.
        if norm_gold and f" {norm_gold} " in padded:
            return True
    return False


def contains_gold(prediction: str | None, golds: list[str]) -> float:
    """1.0 if some normalized gold occurs as whole words in the normalized prediction."""
    if not golds:
        return _unanswerable_score(prediction)
    if _is_empty(prediction):
        return 0.0
    return float(contains_normalized(prediction, golds))


def sentence_correct(sentence: str | None, golds: list[str]) -> float:
    """contains_gold applied to the supporting sentence."""
    return contains_gold(sentence, golds)


# --- records ---------------------------------------------------------------------


def is_answerable(gold: Record) -> bool:
    """A gold record is answerable when it lists at least one answer."""
    return bool(gold.get("answers"))


def is_abstained(prediction: Record) -> bool:
    """Abstained flag set, or no usable answer string."""
    return bool(prediction.get("abstained")) or _is_empty(prediction.get("answer"))


def effective_answer(prediction: Record) -> str | None:
    """The answer as scored: an abstaining prediction answers nothing."""
    return None if is_abstained(prediction) else prediction.get("answer")


def missing_prediction(gold: Record) -> Record:
    """Stand-in for a gold question the system produced nothing for."""
    return {
        "id": gold["id"],
        "question": gold.get("question", ""),
        "answer": None,
        "sentence": None,
        "abstained": True,
        "confidence": 0.0,
        "citations": [],
        "passages": [],
        "timings_ms": {},
    }


def join_by_id(golds: Sequence[Record], predictions: Sequence[Record]) -> list[tuple[Record, Record]]:
    """Pair each gold with its prediction; a missing prediction becomes an abstention."""
    by_id = {pred["id"]: pred for pred in predictions}
    return [(gold, by_id.get(gold["id"]) or missing_prediction(gold)) for gold in golds]


def rate(numerator: float, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def mean_or_none(values: Sequence[float]) -> float | None:
    return float(np.mean(values)) if values else None
