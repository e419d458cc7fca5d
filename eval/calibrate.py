"""Fit the answerer's confidence weights on gold questions (logistic regression on its evidence).

    python eval/calibrate.py --dataset eval/gold/sample.jsonl --index index \
        [--squad ../shared/benchmarks/squad2-dev-half/squad2-dev-public.json --squad-index eval/.cache/squad2-index --limit 600]

Prints the weights to paste into ``Answerer.CONF_BIAS`` / ``CONF_WEIGHTS`` and, for each data
set, how many answerable questions are answered, how many answers are right and how many
unanswerable questions are declined at each threshold.
"""
from __future__ import annotations

import argparse
import random
from pathlib import Path

import numpy as np

from rag.answer import Answerer
from rag.embedding import Embedder
from rag.evaluate import read_questions, read_squad
from rag.metrics import contains_gold
from rag.store import Index

FEATURES = ("dense", "lexical", "context", "absent", "typed", "open")
# not fitted: a when/who/how-many question whose sentence holds no date, name or number, and a
# question pinned to a date its passage never gives, are declined outright (their weights in
# Answerer.CONF_WEIGHTS), so those questions are left out of the fit
RULES = ("untyped", "other_date")


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 0.002, steps: int = 20000, lr: float = 0.5) -> np.ndarray:
    """Weights (bias first) of an L2-regularised logistic regression, by gradient descent."""
    design = np.hstack([np.ones((len(x), 1)), x])
    weights = np.zeros(design.shape[1])
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-design @ weights))
        gradient = design.T @ (p - y) / len(y) + l2 * np.r_[0.0, weights[1:]]
        weights -= lr * gradient
    return weights


def evidence(index_dir: Path, golds: list[dict]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features of each question's best answer, whether it is right, whether it is answerable."""
    index = Index.open(index_dir)
    answerer = Answerer(index, Embedder(index.config.embedding).warm_up())
    answers = answerer.ask_batch([g["question"] for g in golds], [g.get("history", []) for g in golds], threshold=0.0)
    x = np.array([[a.evidence.get(f, 0.0) for f in (*FEATURES, *RULES)] for a in answers])
    right = np.array([1.0 if g["answers"] and contains_gold(a.answer, g["answers"]) else 0.0 for g, a in zip(golds, answers)])
    answerable = np.array([bool(g["answers"]) for g in golds])
    return x, right, answerable


def confidence_of(weights: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The answerer's confidence: the fitted logistic, zero where the rule declines."""
    rules = len(RULES)
    fitted = 1.0 / (1.0 + np.exp(-(weights[0] + x[:, :-rules] @ weights[1:])))
    return np.where(x[:, -rules:].any(axis=1), 0.0, fitted)


def trade_off(name: str, confidence: np.ndarray, right: np.ndarray, answerable: np.ndarray) -> None:
    print(f"\n{name}: threshold  answered(answerable)  right(answered)  declined(unanswerable)")
    for t in np.arange(0.2, 0.76, 0.05):
        answered = confidence >= t
        right_rate = right[answered].mean() if answered.any() else 0.0
        declined = (~answered[~answerable]).mean() if (~answerable).any() else float("nan")
        print(f"{t:9.2f}  {answered[answerable].mean():20.2f}  {right_rate:15.2f}  {declined:22.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=Path("eval/gold/sample.jsonl"))
    parser.add_argument("--index", type=Path, default=Path("index"))
    parser.add_argument("--squad", type=Path, help="also fit on questions of a SQuAD 2.0 file")
    parser.add_argument("--squad-index", type=Path, default=Path("eval/.cache/squad2-index"))
    parser.add_argument("--limit", type=int, default=600, help="SQuAD questions to use (fixed seed)")
    args = parser.parse_args()
    sets = {"gold set": evidence(args.index, read_questions(args.dataset, gold=True))}
    if args.squad:
        squad = read_squad(args.squad)[1]
        random.Random(13).shuffle(squad)
        sets["SQuAD"] = evidence(args.squad_index, squad[: args.limit])
    x = np.vstack([s[0] for s in sets.values()])
    y = np.concatenate([s[1] for s in sets.values()])
    fitted = ~x[:, -len(RULES):].any(axis=1)
    weights = fit_logistic(x[fitted, : -len(RULES)], y[fitted])
    print("CONF_BIAS =", round(float(weights[0]), 2))
    print("CONF_WEIGHTS =", {f: round(float(w), 2) for f, w in zip(FEATURES, weights[1:])})
    for name, (features, right, answerable) in sets.items():
        trade_off(name, confidence_of(weights, features), right, answerable)


if __name__ == "__main__":
    main()
