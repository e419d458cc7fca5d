"""Pure evaluation metrics for answers, retrieval, citations, abstention and latency.

``evaluate`` scores a run's prediction records against a gold set; the scores themselves live in
``answers`` (EM, F1, contains-gold), ``retrieval`` (documents, passages, citations) and
``confidence`` (abstention, thresholds, calibration).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from rag.metrics.answers import (
    Record, contains_gold, effective_answer, exact_match, is_abstained, is_answerable, join_by_id,
    mean_or_none, missing_prediction, normalize_answer, sentence_correct, token_f1,
)
from rag.metrics.confidence import (
    RIGHT_F1, abstention_metrics, calibration, default_thresholds, risk_coverage_thresholds, threshold_curve,
)
from rag.metrics.retrieval import (
    DEFAULT_KS, citation_metrics, passage_answer_recall, ranked_docs, retrieval_metrics,
)

__all__ = [
    "DEFAULT_KS", "RIGHT_F1", "Record", "abstention_metrics", "answer_summary", "calibration", "citation_metrics",
    "contains_gold", "default_thresholds", "effective_answer", "evaluate", "exact_match", "is_abstained",
    "is_answerable", "join_by_id", "latency_stats", "missing_prediction", "normalize_answer",
    "passage_answer_recall", "question_row", "ranked_docs", "retrieval_metrics", "risk_coverage_thresholds",
    "sentence_correct", "threshold_curve", "token_f1",
]


def latency_stats(predictions: Sequence[Record]) -> dict[str, dict[str, float]]:
    """p50/p95/mean in ms for each timing stage seen in the predictions."""
    by_stage: dict[str, list[float]] = {}
    for pred in predictions:
        for stage, ms in (pred.get("timings_ms") or {}).items():
            if ms is not None:
                by_stage.setdefault(stage, []).append(float(ms))
    return {
        stage: {
            "p50": float(np.percentile(values, 50)),
            "p95": float(np.percentile(values, 95)),
            "mean": float(np.mean(values)),
        }
        for stage, values in by_stage.items()
    }


# --- everything together -------------------------------------------------------------


def evaluate(
    golds: Sequence[Record], predictions: Sequence[Record], doc_texts: dict[str, str]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Score predictions against golds: (summary, per-question rows)."""
    pairs = join_by_id(golds, predictions)
    joined_predictions = [pred for _, pred in pairs]
    rows = [question_row(gold, pred) for gold, pred in pairs]
    summary = {
        "n_questions": len(pairs),
        "n_errors": sum("error" in pred for pred in joined_predictions),
        "answers": answer_summary(rows),
        "retrieval": retrieval_metrics(golds, joined_predictions),
        "passage_recall": passage_answer_recall(golds, joined_predictions),
        "citations": citation_metrics(joined_predictions, golds, doc_texts),
        "abstention": abstention_metrics(joined_predictions, golds),
        "latency_ms": latency_stats(joined_predictions),
        "curve": threshold_curve(joined_predictions, golds),
    }
    return summary, rows


def question_row(gold: Record, prediction: Record) -> dict[str, Any]:
    """Per-question scores and the evidence needed to inspect a failure."""
    golds = list(gold.get("answers") or [])
    answer = effective_answer(prediction)
    sentence = None if is_abstained(prediction) else prediction.get("sentence")
    abstained = is_abstained(prediction)
    contains = contains_gold(answer, golds)
    top_citation = min(prediction.get("citations") or [], key=lambda c: c.get("n", 0), default=None)
    return {
        "id": gold["id"],
        "question": gold.get("question") or prediction.get("question", ""),
        "gold_answers": golds,
        "answerable": bool(golds),
        "answer": prediction.get("answer"),
        "sentence": prediction.get("sentence"),
        "abstained": abstained,
        "confidence": float(prediction.get("confidence") or 0.0),
        "em": exact_match(answer, golds),
        "f1": token_f1(answer, golds),
        "contains": contains,
        "sentence_ok": sentence_correct(sentence, golds),
        "correct": (bool(golds) and contains == 1.0) or (not golds and abstained),
        "top_quote": top_citation.get("quote") if top_citation else None,
        "top_doc": top_citation.get("doc") if top_citation else None,
        "latency_total_ms": (prediction.get("timings_ms") or {}).get("total"),
        "error": prediction.get("error"),
    }


def answer_summary(rows: Sequence[dict[str, Any]]) -> dict[str, float | None]:
    """Answer scores over answerable questions, plus SQuAD 2.0 EM/F1 over all."""
    answerable = [row for row in rows if row["answerable"]]
    return {
        "exact_match": mean_or_none([row["em"] for row in answerable]),
        "f1": mean_or_none([row["f1"] for row in answerable]),
        "contains_gold": mean_or_none([row["contains"] for row in answerable]),
        "sentence_accuracy": mean_or_none([row["sentence_ok"] for row in answerable]),
        "exact_match_all": mean_or_none([row["em"] for row in rows]),
        "f1_all": mean_or_none([row["f1"] for row in rows]),
        "n_answerable": len(answerable),
    }
