"""Abstention and confidence: declined questions, the answer/error trade-off by threshold, and
calibration (ECE, reliability bins, risk-coverage)."""

from __future__ import annotations

from typing import Any, NamedTuple, Sequence

from rag.metrics.answers import (
    Record, contains_gold, effective_answer, is_abstained, is_answerable, join_by_id, mean_or_none, rate,
    token_f1,
)


def abstention_metrics(predictions: Sequence[Record], golds: Sequence[Record]) -> dict[str, float | None]:
    """How well abstaining tracks unanswerable questions."""
    pairs = join_by_id(golds, predictions)
    abstained_golds = [gold for gold, pred in pairs if is_abstained(pred)]
    n_unanswerable = sum(not is_answerable(gold) for gold, _ in pairs)
    n_answerable = len(pairs) - n_unanswerable
    n_abstained_unanswerable = sum(not is_answerable(gold) for gold in abstained_golds)
    n_answered_answerable = sum(is_answerable(gold) and not is_abstained(pred) for gold, pred in pairs)
    return {
        "abstain_precision": rate(n_abstained_unanswerable, len(abstained_golds)),
        "abstain_recall": rate(n_abstained_unanswerable, n_unanswerable),
        "answered_rate": rate(n_answered_answerable, n_answerable),
        "n_unanswerable": n_unanswerable,
        "n_answerable": n_answerable,
    }


def default_thresholds() -> list[float]:
    """0.00, 0.05, ..., 1.00."""
    return [round(step * 0.05, 2) for step in range(21)]


class _Outcome(NamedTuple):
    answerable: bool
    has_answer: bool
    confidence: float
    correct: bool


def threshold_curve(
    predictions: Sequence[Record], golds: Sequence[Record], thresholds: Sequence[float] | None = None
) -> list[dict[str, float | None]]:
    """Answer/error trade-off when abstaining below each confidence threshold."""
    outcomes = [
        _Outcome(
            answerable=is_answerable(gold),
            has_answer=not is_abstained(pred),
            confidence=float(pred.get("confidence") or 0.0),
            correct=_is_correct_answer(gold, pred),
        )
        for gold, pred in join_by_id(golds, predictions)
    ]
    thresholds = default_thresholds() if thresholds is None else thresholds
    return [_curve_point(outcomes, float(threshold)) for threshold in thresholds]


def _curve_point(outcomes: Sequence[_Outcome], threshold: float) -> dict[str, float | None]:
    answered = [o for o in outcomes if o.has_answer and o.confidence >= threshold]
    n_answerable = sum(o.answerable for o in outcomes)
    n_unanswerable = len(outcomes) - n_answerable
    n_answered_answerable = sum(o.answerable for o in answered)
    n_answered_unanswerable = len(answered) - n_answered_answerable
    return {
        "threshold": threshold,
        "answered_rate": rate(len(answered), len(outcomes)),
        "wrong_rate": rate(sum(not o.correct for o in answered), len(answered)),
        "answerable_answered": rate(n_answered_answerable, n_answerable),
        "unanswerable_abstained": rate(n_unanswerable - n_answered_unanswerable, n_unanswerable),
    }


def _is_correct_answer(gold: Record, prediction: Record) -> bool:
    """Answer judged by containment; an answer to an unanswerable question is wrong."""
    return is_answerable(gold) and contains_gold(effective_answer(prediction), gold["answers"]) == 1.0


# --- calibration ---------------------------------------------------------------------

# An answer counts as right for calibration when its SQuAD token F1 against some gold is at
# least this: partial spans ("three-hour meeting" for "three-hour") pass, unrelated text fails.
RIGHT_F1 = 0.5


def risk_coverage_thresholds() -> list[float]:
    """0.000, 0.025, ..., 1.000."""
    return [round(step * 0.025, 3) for step in range(41)]


def calibration(raw_records: Sequence[Record], golds: Sequence[Record], bins: int = 10) -> dict[str, Any]:
    """How well confidence predicts a right answer, judged on records with nothing withheld.

    ECE and the reliability bins cover the questions that got an answer (an abstention has
    no answer whose rightness confidence could predict); risk-coverage covers all questions.
    """
    answered = [
        (float(pred.get("confidence") or 0.0), _is_right(gold, pred))
        for gold, pred in join_by_id(golds, raw_records)
        if not is_abstained(pred)
    ]
    reliability = [_reliability_bin(answered, index, bins) for index in range(bins)]
    ece = sum(b["count"] * abs(b["accuracy"] - b["confidence"]) for b in reliability if b["count"])
    n_questions = len(golds)
    return {
        "ece": ece / len(answered) if answered else None,
        "bins": reliability,
        "risk_coverage": [_risk_point(answered, n_questions, t) for t in risk_coverage_thresholds()],
        "right_f1": RIGHT_F1,
    }


def _is_right(gold: Record, prediction: Record) -> bool:
    # Any answer to an unanswerable question is wrong.
    return is_answerable(gold) and token_f1(effective_answer(prediction), gold["answers"]) >= RIGHT_F1


def _reliability_bin(answered: Sequence[tuple[float, bool]], index: int, bins: int) -> dict[str, Any]:
    # Equal-width bins [lo, hi); the last one also holds confidence 1.0.
    members = [(conf, right) for conf, right in answered if min(max(int(conf * bins), 0), bins - 1) == index]
    return {
        "lo": index / bins,
        "hi": (index + 1) / bins,
        "count": len(members),
        "confidence": mean_or_none([conf for conf, _ in members]),
        "accuracy": mean_or_none([float(right) for _, right in members]),
    }


def _risk_point(answered: Sequence[tuple[float, bool]], n_questions: int, threshold: float) -> dict[str, float | None]:
    kept = [right for conf, right in answered if conf >= threshold]
    return {
        "threshold": threshold,
        "coverage": rate(len(kept), n_questions),
        "risk": rate(sum(not right for right in kept), len(kept)),
    }
