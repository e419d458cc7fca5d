"""Grid-search the answerer's sentence-score weights on gold questions.

    python eval/tune_sentence_weights.py --dataset eval/gold/sample.jsonl --index index
    python eval/tune_sentence_weights.py --squad ../shared/benchmarks/squad2-dev-half/squad2-dev-public.json \
        --index eval/.cache/squad2-index --limit 600

For every answerable question it records each candidate sentence's features (cosine, term
coverage, answer-type hint, passage rank) and whether the sentence holds a gold answer, then
prints the weight settings whose top-ranked sentence holds the answer most often. Paste the
chosen ones into ``Answerer.W_DENSE`` … ``W_RANK``.
"""
from __future__ import annotations

import argparse
import itertools
import random
from pathlib import Path

import numpy as np

from rag.answer import Answerer, retrieval_query
from rag.embedding import Embedder
from rag.evaluate import read_questions, read_squad
from rag.metrics import contains_gold
from rag.spans import answer_type, type_hint
from rag.store import Index

GRID = {
    "dense": (0.2, 0.35, 0.45, 0.6, 0.8),
    "lexical": (0.2, 0.35, 0.45, 0.6, 0.8),
    "type": (0.0, 0.06, 0.12, 0.2),
    "rank": (0.0, 0.04, 0.08, 0.15, 0.25),
}


def candidate_features(answerer: Answerer, gold: dict) -> np.ndarray:
    """Rows of (dense, lexical, type hint, 1/passage rank, holds a gold answer) per candidate."""
    question, history = gold["question"], gold.get("history", [])
    query = retrieval_query(question, history)
    vectors = answerer.embedder.embed_queries([query] if query == question else [query, question])
    passages = answerer.retriever.search_batch([query], k=answerer.config.answer.passages, query_vectors=vectors[:1])[0]
    candidates = answerer._candidates(passages)
    kind = answer_type(question)
    answerer._score(answerer._question_terms(question, history), vectors, candidates, kind)
    return np.array([
        (c.dense, c.lexical, type_hint(c.text, kind), 1.0 / c.passage_rank, float(contains_gold(c.text, gold["answers"])))
        for c in candidates
    ]).reshape(-1, 5)


def top1_accuracy(data: list[np.ndarray], weights: np.ndarray) -> float:
    hits = sum(bool(d[np.argmax(d[:, :4] @ weights), 4]) for d in data if len(d))
    return hits / max(1, len(data))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--dataset", type=Path)
    source.add_argument("--squad", type=Path)
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--limit", type=int, default=600)
    args = parser.parse_args()
    golds = read_squad(args.squad)[1] if args.squad else read_questions(args.dataset, gold=True)
    golds = [g for g in golds if g["answers"]]
    random.Random(7).shuffle(golds)
    index = Index.open(args.index)
    answerer = Answerer(index, Embedder(index.config.embedding).warm_up()).warm_up()
    data = [candidate_features(answerer, g) for g in golds[: args.limit]]
    current = np.array([answerer.W_DENSE, answerer.W_LEXICAL, answerer.W_TYPE, answerer.W_RANK])
    print(f"current weights {tuple(current)}: top-1 sentence holds the answer for {top1_accuracy(data, current):.3f}")
    results = sorted(
        ((top1_accuracy(data, np.array(w)), w) for w in itertools.product(*GRID.values())), reverse=True
    )
    for accuracy, weights in results[:10]:
        print(f"{accuracy:.3f}  " + "  ".join(f"{name}={value}" for name, value in zip(GRID, weights)))


if __name__ == "__main__":
    main()
