"""Where answers are lost: how far down the answering pipeline a gold answer survives.

    python eval/answer_losses.py --dataset eval/gold/news-blind.jsonl --index /tmp/news-blind-index
    python eval/answer_losses.py --squad ../shared/benchmarks/squad2-dev-half/squad2-dev-public.json \
        --articles Normans 1973_oil_crisis

Every answerable question is asked as `rag ask` asks it (hybrid retrieval over the index, the
reader over the best passages, the combiner), and each stage is checked for a normalised gold
answer (`rag.metrics.contains_gold`): the retrieved passages, the passages the reader reads, the
reader's candidate spans, the reader's own best span (largest margin over "no answer"), the
combiner's best-ranked span, and that span if its confidence clears the threshold (the answer
given). Each row is the share of answerable questions still holding a gold answer at that stage;
the drop from one row to the next is what the stage loses. A second table says where the reader's
best span is when its candidates hold a gold answer but that span does not: in the same passage
as a gold-holding candidate, in another passage of the same article, or in another article.
Prints Markdown tables.
"""
from __future__ import annotations

import argparse
import sys
from collections import Counter
from dataclasses import dataclass

from rag.answer import Answerer, reader_question, retrieval_query
from rag.embedding import Embedder
from rag.evaluate import add_question_arguments, questions_and_index
from rag.metrics import contains_gold
from rag.store import Index

STAGES = (
    "a retrieved passage", "a passage the reader reads", "a candidate span", "the reader's best span",
    "the combiner's best span", "the answer given",
)
MISPLACED = ("in the same passage", "in another passage of the same article", "in another article")


@dataclass(frozen=True)
class Followed:
    """One answerable question followed down the pipeline."""

    held: list[bool]  # whether each of ``STAGES`` holds a gold answer
    # where the reader's best span is when a candidate holds a gold answer and it does not
    # (one of ``MISPLACED``); None otherwise
    misplaced: str | None = None


def stages_holding_gold(answerer: Answerer, gold: dict) -> Followed:
    """Follow one answerable question through ``STAGES``."""
    def holds(text: str | None) -> bool:
        return text is not None and contains_gold(text, gold["answers"]) == 1.0

    history = gold.get("history") or []
    passages = answerer.retriever.search(retrieval_query(gold["question"], history), k=answerer.config.answer.passages)
    candidates = answerer.candidates(reader_question(gold["question"], history), passages)
    read = passages[: answerer.config.answer.reader_passages]
    reader_best = max(candidates, key=lambda c: c.span.margin, default=None)
    ranked_best = candidates[0] if candidates else None
    given = ranked_best if ranked_best and ranked_best.probability >= answerer.threshold else None
    right = [c for c in candidates if holds(c.text)]
    held = [
        any(holds(p.text) for p in passages), any(holds(p.text) for p in read), bool(right),
        holds(reader_best and reader_best.text), holds(ranked_best and ranked_best.text), holds(given and given.text),
    ]
    misplaced = None
    if right and not held[3]:
        if any(c.passage == reader_best.passage for c in right):
            misplaced = MISPLACED[0]
        elif any(c.doc_id == reader_best.doc_id for c in right):
            misplaced = MISPLACED[1]
        else:
            misplaced = MISPLACED[2]
    return Followed(held, misplaced)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_question_arguments(parser)
    args = parser.parse_args()
    try:
        golds, index_dir = questions_and_index(args)
    except (ValueError, OSError) as error:
        parser.error(str(error))
    answerable = [g for g in golds if g["answers"]]
    if not answerable:
        parser.error("no answerable questions to follow")
    index = Index.open(index_dir)
    answerer = Answerer(index, Embedder(index.config.embedding).warm_up()).warm_up()
    followed = [stages_holding_gold(answerer, gold) for gold in answerable]
    held = [f.held for f in followed]

    print(f"{len(answerable)} answerable questions of {len(golds)}; index {index_dir}; "
          f"reader {answerer.reader.sha256[:12]}", file=sys.stderr)
    print("| a gold answer is in | questions | share |")
    print("|---|---|---|")
    for stage, column in zip(STAGES, zip(*held)):
        print(f"| {stage} | {sum(column)} | {sum(column) / len(held):.3f} |")
    misplaced = Counter(f.misplaced for f in followed if f.misplaced)
    print()
    print("| a candidate holds a gold answer, the reader's best span does not; that span is | questions |")
    print("|---|---|")
    for place in MISPLACED:
        print(f"| {place} | {misplaced[place]} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
