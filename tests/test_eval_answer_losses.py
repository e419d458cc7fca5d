"""eval/answer_losses.py: how far down the answering pipeline a gold answer survives."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from rag.ingest import load_documents
from rag.store import build_index

SCRIPT = Path(__file__).resolve().parents[1] / "eval" / "answer_losses.py"
ARTICLE = (
    "Harbour bridge opens\n\n"
    "The new Saltmere harbour bridge opened to traffic on Friday after four years of work. "
    "It cost £41 million and was designed by the engineer Priya Anand. "
    "Up to 9,000 cars a day are expected to cross it, the council said.\n"
)
QUESTIONS = [
    {"id": "q1", "question": "Who designed the Saltmere harbour bridge?", "answers": ["Priya Anand"]},
    {"id": "q2", "question": "How much did the harbour bridge cost?", "answers": ["£41 million"]},
    {"id": "q3", "question": "What colour is the harbour bridge painted?", "answers": ["sea green"]},
    {"id": "q4", "question": "Who opened the bridge?", "answers": []},
]


def test_each_stage_keeps_at_most_what_the_one_before_it_held(tmp_path, embedder):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "bridge.txt").write_text(ARTICLE, encoding="utf-8")
    build_index(load_documents([corpus]).documents, tmp_path / "index", embedder)
    dataset = tmp_path / "questions.jsonl"
    dataset.write_text("".join(json.dumps({**q, "sources": ["bridge.txt"]}) + "\n" for q in QUESTIONS), encoding="utf-8")

    result = subprocess.run([sys.executable, str(SCRIPT), "--dataset", str(dataset), "--index", str(tmp_path / "index")],
                            capture_output=True, text=True, check=True)
    stages, places = result.stdout.split("\n\n")
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in stages.splitlines()[2:]]
    held = {stage: int(count) for stage, count, _ in rows}
    misplaced = {place: int(count) for place, count in
                 ([cell.strip() for cell in line.strip("|").split("|")] for line in places.strip().splitlines()[2:])}

    assert "3 answerable questions of 4" in result.stderr  # the unanswerable one is not followed
    assert list(held) == ["a retrieved passage", "a passage the reader reads", "a candidate span",
                          "the reader's best span", "the combiner's best span", "the answer given"]
    # the article holds two of the three answers ("sea green" is nowhere), and its one chunk is read
    assert held["a retrieved passage"] == held["a passage the reader reads"] == 2
    assert held["a candidate span"] == 2  # plain questions: the reader proposes both answers
    assert max(held["the reader's best span"], held["the combiner's best span"]) <= held["a candidate span"]
    assert 1 <= held["the answer given"] <= held["the combiner's best span"]
    assert [float(share) for _, _, share in rows][0] == round(2 / 3, 3)
    # every question lost between the candidates and the reader's best span is placed once
    assert list(misplaced) == ["in the same passage", "in another passage of the same article", "in another article"]
    assert sum(misplaced.values()) == held["a candidate span"] - held["the reader's best span"]
    assert misplaced["in another article"] == 0  # the index holds one article
