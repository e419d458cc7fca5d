"""Ablation: the reader alone, the reader with the combiner, and (from a saved run) the old rules.

    python eval/ablation.py --dataset eval/gold/news-blind.jsonl --index /tmp/news-blind-index
    python eval/ablation.py --squad ../shared/benchmarks/squad2-dev-half/squad2-dev-public.json \
        --articles Normans 1973_oil_crisis
    ... --rules OLD/predictions.jsonl   # a `rag eval` run of the rule-based answerer (commit 5d5f9c6)

"Reader alone" ranks spans by the reader's own margin over "no answer" (a one-feature logistic
map, fitted on the same held-out SQuAD articles as the combiner); "reader + combiner" is the
shipped answerer. Each is answered once with nothing withheld, then withheld at its own threshold.
Prints one Markdown table row per variant.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rag.answer import Answerer, withhold_record
from rag.embedding import Embedder
from rag.evaluate import add_question_arguments, answer_questions, questions_and_index
from rag.metrics import calibration, evaluate
from rag.reader.scoring import Combiner
from rag.store import Index

COLUMNS = ("contains", "F1", "EM", "answered", "declined", "ECE")


def row(name: str, golds: list[dict], records: list[dict], raw: list[dict] | None, doc_texts: dict[str, str]) -> str:
    summary, _ = evaluate(golds, records, doc_texts)
    answers, abstention = summary["answers"], summary["abstention"]
    ece = calibration(raw, golds)["ece"] if raw is not None else None
    values = [answers["contains_gold"], answers["f1"], answers["exact_match"], abstention["answered_rate"],
              abstention["abstain_recall"], ece]
    return f"| {name} | " + " | ".join("—" if v is None else f"{v:.3f}" for v in values) + " |"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_question_arguments(parser)
    parser.add_argument("--rules", type=Path, help="predictions.jsonl of a rule-based run over the same questions")
    args = parser.parse_args()
    try:
        golds, index_dir = questions_and_index(args)
    except (ValueError, OSError) as error:
        parser.error(str(error))
    index = Index.open(index_dir)
    answerer = Answerer(index, Embedder(index.config.embedding).warm_up()).warm_up()
    doc_texts = {doc_id: index.document_text(doc_id) for doc_id in index.documents}
    metadata = answerer.reader.metadata

    print(f"{len(golds)} questions; index {index_dir}; reader {answerer.reader.sha256[:12]}", file=sys.stderr)
    print("| variant | " + " | ".join(COLUMNS) + " |")
    print("|---" * (len(COLUMNS) + 1) + "|")
    if args.rules:
        records = [json.loads(line) for line in args.rules.read_text(encoding="utf-8").splitlines() if line.strip()]
        print(row("rules alone (5d5f9c6)", golds, records, None, doc_texts))
    for name, key in (("reader alone", "combiner_reader_alone"), ("reader + combiner", "combiner")):
        answerer.combiner = Combiner.from_metadata({"combiner": metadata[key]})
        raw = answer_questions(answerer, golds, None, threshold=0.0)
        final = [withhold_record(r, answerer.combiner.threshold) for r in raw]
        print(row(f"{name} (threshold {answerer.combiner.threshold:.3f})", golds, final, raw, doc_texts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
