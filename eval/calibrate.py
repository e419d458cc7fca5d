"""Fit the answerer's confidence weights on a gold set (logistic regression on its evidence).

    python eval/calibrate.py --dataset eval/gold/sample.jsonl --index index

Prints the weights to paste into ``Answerer.CONF_BIAS`` / ``CONF_WEIGHTS`` and the threshold
that best separates right answers from wrong answers and unanswerable questions.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from rag.answer import Answerer
from rag.embedding import Embedder
from rag.evaluate import read_questions
from rag.metrics import contains_gold
from rag.store import Index

FEATURES = ("dense", "lexical", "context", "typed", "open")


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 0.002, steps: int = 20000, lr: float = 0.5) -> np.ndarray:
    """Weights (bias first) of an L2-regularised logistic regression, by gradient descent."""
    design = np.hstack([np.ones((len(x), 1)), x])
    weights = np.zeros(design.shape[1])
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-design @ weights))
        gradient = design.T @ (p - y) / len(y) + l2 * np.r_[0.0, weights[1:]]
        weights -= lr * gradient
    return weights


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=Path("eval/gold/sample.jsonl"))
    parser.add_argument("--index", type=Path, default=Path("index"))
    args = parser.parse_args()
    golds = read_questions(args.dataset)
    index = Index.open(args.index)
    answerer = Answerer(index, Embedder(index.config.embedding).warm_up())
    answers = answerer.ask_batch([g["question"] for g in golds], [g.get("history", []) for g in golds], threshold=0.0)
    x = np.array([[a.evidence.get(f, 0.0) for f in FEATURES] for a in answers])
    y = np.array([1.0 if g["answers"] and contains_gold(a.answer, g["answers"]) else 0.0 for g, a in zip(golds, answers)])
    weights = fit_logistic(x, y)
    print("CONF_BIAS =", round(float(weights[0]), 2))
    print("CONF_WEIGHTS =", {f: round(float(w), 2) for f, w in zip(FEATURES, weights[1:])})
    confidence = 1.0 / (1.0 + np.exp(-(np.hstack([np.ones((len(x), 1)), x]) @ weights)))
    answerable = np.array([bool(g["answers"]) for g in golds])
    print("threshold  answered(answerable)  correct(answered)  abstained(unanswerable)")
    for t in np.arange(0.2, 0.75, 0.05):
        answered = confidence >= t
        print(f"{t:9.2f}  {answered[answerable].mean():20.2f}  {y[answered].mean() if answered.any() else 0:17.2f}  {(~answered[~answerable]).mean():23.2f}")


if __name__ == "__main__":
    main()
