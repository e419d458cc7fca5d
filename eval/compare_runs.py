"""Compare two `rag eval` runs question by question, with a paired bootstrap interval.

    python eval/compare_runs.py BASE CANDIDATE news-blind news-blind-3 [--metric f1]

BASE and CANDIDATE are report roots laid out as `rag eval --out ROOT/<set>` writes them
(`ROOT/<set>/predictions.jsonl`, e.g. `eval/reports`); each set's gold questions are read from
`eval/gold/<set>.jsonl` (`--gold DIR` for another folder). For every set, and for all sets
pooled, it prints the base and candidate means of a per-question score, their difference, and a
95 % interval for that difference from resampling the questions (the same questions for both
runs, so that question difficulty cancels). Scores (`rag.metrics.question_row`): `f1` is SQuAD
2.0 all-question F1 (declining an unanswerable question scores 1); `contains` and `em` are over
the answerable questions only, as `rag eval` reports them.

Why: the blind sets hold 56-106 questions each, where one question moves a mean by 0.01-0.02;
a variant is worth keeping only when the interval of its difference clears zero.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from rag.gold import read_questions
from rag.metrics import join_by_id, question_row

METRICS = ("f1", "contains", "em")


def question_scores(gold_file: Path, predictions_file: Path, metric: str) -> dict[str, float]:
    """Per-question ``metric`` of one run, by question id (a missing prediction is an abstention;
    for ``contains`` and ``em`` only answerable questions count)."""
    golds = read_questions(gold_file, gold=True)
    predictions = [json.loads(line) for line in predictions_file.read_text(encoding="utf-8").splitlines() if line.strip()]
    scores = {}
    for gold, prediction in join_by_id(golds, predictions):
        row = question_row(gold, prediction)
        if row["answerable"] or metric == "f1":
            scores[gold["id"]] = float(row[metric])
    return scores


def paired_interval(differences: np.ndarray, resamples: int = 5000, seed: int = 0) -> tuple[float, float]:
    """95 % bootstrap interval of the mean of paired ``differences``."""
    rng = np.random.default_rng(seed)
    means = differences[rng.integers(0, len(differences), (resamples, len(differences)))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(low), float(high)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base", type=Path)
    parser.add_argument("candidate", type=Path)
    parser.add_argument("sets", nargs="+", help="report sub-folders, named like their gold files")
    parser.add_argument("--gold", type=Path, default=Path("eval/gold"))
    parser.add_argument("--metric", choices=METRICS, default="f1")
    parser.add_argument("--resamples", type=int, default=5000)
    args = parser.parse_args(argv)

    print(f"| set | questions | base {args.metric} | candidate | difference | 95 % interval |")
    print("|---|---|---|---|---|---|")
    pooled_base, pooled_candidate = [], []
    for name in args.sets:
        gold_file = args.gold / f"{name}.jsonl"
        base = question_scores(gold_file, args.base / name / "predictions.jsonl", args.metric)
        candidate = question_scores(gold_file, args.candidate / name / "predictions.jsonl", args.metric)
        ids = sorted(base)
        pooled_base += [base[i] for i in ids]
        pooled_candidate += [candidate[i] for i in ids]
        print(_row(name, np.array([base[i] for i in ids]), np.array([candidate[i] for i in ids]), args.resamples))
    if len(args.sets) > 1:
        print(_row("pooled", np.array(pooled_base), np.array(pooled_candidate), args.resamples))
    return 0


def _row(name: str, base: np.ndarray, candidate: np.ndarray, resamples: int) -> str:
    low, high = paired_interval(candidate - base, resamples)
    return (f"| {name} | {len(base)} | {base.mean():.3f} | {candidate.mean():.3f} | "
            f"{candidate.mean() - base.mean():+.3f} | [{low:+.3f}, {high:+.3f}] |")


if __name__ == "__main__":
    sys.exit(main())
