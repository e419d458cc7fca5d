"""Retrieval scores (document recall@k, MRR, nDCG via ranx; answer recall of the passages) and
citation scores (precision against gold sources, quote integrity)."""

from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np

from rag.metrics.answers import (
    Record, contains_normalized, is_abstained, is_answerable, join_by_id, mean_or_none, rate,
)

DEFAULT_KS: tuple[int, ...] = (1, 3, 5, 10)


def ranked_docs(prediction: Record) -> list[str]:
    """Docs of the retrieved passages in rank order, first occurrence kept."""
    return list(dict.fromkeys(passage["doc"] for passage in prediction.get("passages") or []))


def retrieval_metrics(
    golds: Sequence[Record], predictions: Sequence[Record], ks: Sequence[int] = DEFAULT_KS
) -> dict[str, float]:
    """Document-level recall@k, MRR@10 and nDCG@10 over golds with sources (via ranx)."""
    scored = [(gold, pred) for gold, pred in join_by_id(golds, predictions) if gold.get("sources")]
    if not scored:
        return {}
    metric_names = [f"recall@{k}" for k in ks] + ["mrr@10", "ndcg@10"]
    qrels: dict[str, dict[str, int]] = {}
    run: dict[str, dict[str, float]] = {}
    for gold, pred in scored:
        docs = ranked_docs(pred)
        # ranx rejects queries with an empty run, so those are scored 0 by leaving them out
        # of the sums below while still counting them in the denominator.
        if docs:
            qrels[gold["id"]] = {doc: 1 for doc in gold["sources"]}
            run[gold["id"]] = {doc: 1.0 / rank for rank, doc in enumerate(docs, start=1)}
    totals = _ranx_per_query_sums(qrels, run, metric_names) if run else dict.fromkeys(metric_names, 0.0)
    result = {name: totals[name] / len(scored) for name in metric_names}
    result["n"] = len(scored)
    return result


def _ranx_per_query_sums(
    qrels: dict[str, dict[str, int]], run: dict[str, dict[str, float]], metric_names: list[str]
) -> dict[str, float]:
    from ranx import Qrels, Run, evaluate

    with warnings.catch_warnings():
        # numba's int-cast warnings inside ranx are noise for our tiny integer qrels.
        warnings.simplefilter("ignore")
        per_query = evaluate(Qrels(qrels), Run(run), metric_names, return_mean=False)
    if len(metric_names) == 1:  # ranx returns a bare array for a single metric
        per_query = {metric_names[0]: per_query}
    return {name: float(np.sum(per_query[name])) for name in metric_names}


def passage_answer_recall(
    golds: Sequence[Record], predictions: Sequence[Record], ks: Sequence[int] = DEFAULT_KS
) -> dict[str, float]:
    """Fraction of answerable questions with a gold answer inside some top-k passage."""
    answerable = [(gold, pred) for gold, pred in join_by_id(golds, predictions) if is_answerable(gold)]
    if not answerable:
        return {}
    hit_ranks = [_first_answer_rank(gold["answers"], pred) for gold, pred in answerable]
    hit_ranks = [rank for rank in hit_ranks if rank is not None]
    result: dict[str, float] = {
        f"answer_recall@{k}": sum(rank <= k for rank in hit_ranks) / len(answerable) for k in ks
    }
    result["n"] = len(answerable)
    return result


def _first_answer_rank(answers: list[str], prediction: Record) -> int | None:
    for rank, passage in enumerate(prediction.get("passages") or [], start=1):
        if contains_normalized(passage.get("text", ""), answers):
            return rank
    return None


# --- citations -----------------------------------------------------------------------


def citation_metrics(
    predictions: Sequence[Record], golds: Sequence[Record], doc_texts: dict[str, str]
) -> dict[str, float | None]:
    """Citation precision against gold sources, quote/offset integrity, answer-in-quote rate."""
    gold_by_id = {gold["id"]: gold for gold in golds}
    precisions: list[float] = []
    n_citations = n_intact = 0
    n_answers = n_answers_quoted = 0
    for pred in predictions:
        citations = pred.get("citations") or []
        gold = gold_by_id.get(pred["id"])
        # Without gold sources there is nothing to judge the cited docs against.
        if citations and gold is not None and is_answerable(gold) and gold.get("sources"):
            cited = set(c["doc"] for c in citations)
            precisions.append(len(cited & set(gold["sources"])) / len(cited))
        n_citations += len(citations)
        n_intact += sum(_citation_is_intact(c, doc_texts) for c in citations)
        if not is_abstained(pred):
            n_answers += 1
            n_answers_quoted += any(pred["answer"] in (c.get("quote") or "") for c in citations)
    return {
        "citation_precision": mean_or_none(precisions),
        "citation_integrity": rate(n_intact, n_citations),
        "answer_in_quote": rate(n_answers_quoted, n_answers),
    }


def _citation_is_intact(citation: Record, doc_texts: dict[str, str]) -> bool:
    text = doc_texts.get(citation.get("doc", ""))
    if text is None:
        return False
    return text[citation["start"] : citation["end"]] == citation.get("quote")
