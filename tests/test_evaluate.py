"""`rag eval`, `rag ask --batch` and `--export-feedback`, run for real: real model, real index."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from rag.answer import Answerer
from rag.ingest import read_file
from rag.reader.model import Reader
from rag.cli import build_parser
from rag.evaluate import (
    DEFAULT_INDEX, SQUAD_INDEX, add_question_arguments, answer_questions, questions_and_index, run,
)
from rag.gold import GoldFormatError, read_questions, read_squad
from rag.store import FEEDBACK_FILE, Index, build_index

TRIBUNE, DAWN = "000_c843eb08c4d7e257.txt", "001_066d803ddee4351a.txt"
SHARIF = "Which prime minister of Pakistan talked with European leaders at the UN General Assembly?"


GOLD_SETS = sorted((Path(__file__).parent.parent / "eval" / "gold").glob("*.jsonl"))


@pytest.mark.parametrize("gold_file", GOLD_SETS, ids=lambda p: p.name)
def test_shipped_gold_answers_are_verbatim_in_their_sources(gold_file, sample_documents, request):
    texts = {doc.id: doc.text for doc in sample_documents}
    questions = read_questions(gold_file, gold=True)
    # the blind sets also ask about BBC articles, read where ../shared keeps them
    for doc_id in {s for q in questions for s in q["sources"]} - set(texts):
        [document], _ = read_file(request.getfixturevalue("bbc_news") / doc_id, doc_id)
        texts[doc_id] = document.text
    assert len({q["id"] for q in questions}) == len(questions)
    for question in questions:
        assert bool(question["answers"]) == bool(question["sources"]), question["id"]
        for answer in question["answers"]:
            assert any(answer in texts[doc] for doc in question["sources"]), (question["id"], answer)


def write_jsonl(path: Path, lines: list) -> Path:
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    return path


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def rag_eval(*argv: object) -> int:
    """`rag eval ARGS...`, parsed by the real command line."""
    return run(build_parser().parse_args(["eval", *map(str, argv)]))


@pytest.mark.parametrize("lines, line, problem", [
    ([{"question": "Who?"}, {"question": "When?"}, "{not json"], 3, "not valid JSON"),
    ([{"question": "Who?"}, {"id": "b", "answers": []}], 2, 'missing or empty "question"'),
    ([{"question": "Who?", "answers": "Sharif"}], 1, '"answers" must be a list of strings'),
    ([{"id": "a", "question": "Who?"}, {"id": "a", "question": "When?"}], 2, "duplicate id 'a'"),
])
def test_a_bad_line_is_reported_with_file_and_line(tmp_path, lines, line, problem):
    path = write_jsonl(tmp_path / "questions.jsonl", lines)
    with pytest.raises(GoldFormatError) as error:
        read_questions(path)
    assert str(error.value).startswith(f"{path}:{line}: ")
    assert problem in str(error.value)


def test_a_gold_set_needs_answers_but_a_batch_does_not(tmp_path):
    path = write_jsonl(tmp_path / "batch.jsonl", [{"question": "Who met Putin?"}])
    assert read_questions(path) == [{"id": "1", "question": "Who met Putin?", "sources": [], "history": []}]
    with pytest.raises(GoldFormatError, match=r":1: missing \"answers\""):
        read_questions(path, gold=True)


def test_batch_answers_one_record_per_question(tmp_path, sample_index, embedder):
    batch = write_jsonl(tmp_path / "batch.jsonl", [
        {"id": "q-sharif", "question": SHARIF},
        "",
        {"question": "Where were those leaders from?", "history": [SHARIF]},
    ])
    answerer = Answerer(Index.open(sample_index), embedder)

    records = answer_questions(answerer, read_questions(batch), tmp_path / "out" / "answers.jsonl", k=3)

    assert read_jsonl(tmp_path / "out" / "answers.jsonl") == records
    assert [r["id"] for r in records] == ["q-sharif", "3"]  # an id defaults to the line number
    for record in records:
        assert {"question", "answer", "abstained", "confidence", "citations", "passages"} <= set(record)
        assert len(record["passages"]) <= 3


def test_eval_writes_metrics_report_and_plots(tmp_path, sample_index, capsys):
    gold = write_jsonl(tmp_path / "gold.jsonl", [
        {"id": "sharif", "question": SHARIF, "answers": ["Shehbaz Sharif", "Sharif"], "sources": [TRIBUNE, DAWN]},
        {"id": "bajwa", "question": "Who is the Pakistani army chief that went to Washington?",
         "answers": ["Qamar Javed Bajwa", "Bajwa"], "sources": [TRIBUNE, DAWN]},
        {"id": "successor", "question": "Who took over from Bajwa as head of the army?", "answers": [], "sources": []},
        {"id": "leaders", "question": "Where were those leaders from?", "history": [SHARIF],
         "answers": ["France", "Germany", "Spain"], "sources": [TRIBUNE, DAWN]},
    ])
    out = tmp_path / "report"

    assert rag_eval("--dataset", gold, "--index", sample_index, "--out", out) == 0

    names = {p.name for p in out.iterdir()}
    assert {"metrics.json", "report.md", "predictions.jsonl"} <= names
    assert {"recall_at_k.png", "latency.png", "confidence.png", "calibration.png"} <= names
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_questions"] == 4 and metrics["reader"]["sha256"] == Reader().sha256
    assert 0.0 <= metrics["calibration"]["ece"] <= 1.0
    assert (metrics["abstention"]["n_answerable"], metrics["abstention"]["n_unanswerable"]) == (3, 1)
    assert [r["id"] for r in read_jsonl(out / "predictions.jsonl")] == ["sharif", "bajwa", "successor", "leaders"]
    assert f"report: {out / 'report.md'}" in capsys.readouterr().out


SQUAD = {"version": "v2.0", "data": [
    {"title": "Bergen_Harbour", "paragraphs": [{
        "context": "Bergen harbour opened a new ferry terminal in 1998. Twelve ships docked there in May.",
        "qas": [
            {"id": "b1", "question": "When did the ferry terminal open?", "is_impossible": False,
             "answers": [{"text": "1998", "answer_start": 46}, {"text": "1998", "answer_start": 46}]},
            {"id": "b2", "question": "Who built the terminal?", "is_impossible": True, "answers": []},
        ]}]},
    {"title": "Oslo_Opera", "paragraphs": [
        {"context": "The Oslo Opera House was designed by the firm Snøhetta.",
         "qas": [{"id": "o1", "question": "Which firm designed the Oslo Opera House?", "is_impossible": False,
                  "answers": [{"text": "Snøhetta", "answer_start": 46}, {"text": "the firm Snøhetta", "answer_start": 37}]}]},
        {"context": "It opened in April 2008 on the waterfront.",
         "qas": [{"id": "o2", "question": "When did the opera house open?", "is_impossible": False,
                  "answers": [{"text": "April 2008", "answer_start": 13}]}]},
    ]},
]}


def test_squad_articles_become_documents_and_questions_gold_records(tmp_path, embedder):
    squad = tmp_path / "tiny-squad.json"
    squad.write_text(json.dumps(SQUAD))

    documents, golds = read_squad(squad)

    assert [d.id for d in documents] == ["Bergen_Harbour", "Oslo_Opera"]
    assert documents[1].text.split("\n\n") == [p["context"] for p in SQUAD["data"][1]["paragraphs"]]
    assert [(g["id"], g["answers"], g["sources"]) for g in golds] == [
        ("b1", ["1998"], ["Bergen_Harbour"]),  # duplicate answers collapse
        ("b2", [], ["Bergen_Harbour"]),  # unanswerable
        ("o1", ["Snøhetta", "the firm Snøhetta"], ["Oslo_Opera"]),
        ("o2", ["April 2008"], ["Oslo_Opera"]),
    ]

    index_dir = tmp_path / "squad-index"
    assert rag_eval("--squad", squad, "--index", index_dir, "--out", tmp_path / "report") == 0
    assert sorted(Index.open(index_dir).documents) == ["Bergen_Harbour", "Oslo_Opera"]
    assert json.loads((tmp_path / "report" / "metrics.json").read_text())["n_questions"] == 4

    # a second run finds every article unchanged and embeds nothing
    assert build_index(read_squad(squad)[0], index_dir, embedder).chunks_embedded == 0


def test_feedback_becomes_gold_candidates(tmp_path):
    index_dir = tmp_path / "index"
    index_dir.mkdir()
    write_jsonl(index_dir / FEEDBACK_FILE, [
        {"question": SHARIF, "rating": "up", "answer": "Shehbaz Sharif",
         "citations": [{"doc": TRIBUNE}, {"doc": DAWN}, {"doc": TRIBUNE}]},
        {"question": "Who replaced Bajwa?", "rating": "down", "answer": "Qamar Javed Bajwa"},
        "not json",
    ])
    out = tmp_path / "candidates.jsonl"

    assert rag_eval("--export-feedback", out, "--index", index_dir) == 0

    liked, disliked = read_questions(out, gold=True)  # candidates are a valid gold file
    assert (liked["question"], liked["answers"], liked["sources"]) == (SHARIF, ["Shehbaz Sharif"], [TRIBUNE, DAWN])
    assert "needs_review" not in liked
    assert (disliked["answers"], disliked["needs_review"]) == ([], True)
    assert disliked["rejected_answer"] == "Qamar Javed Bajwa"


def test_eval_scripts_take_a_gold_file_or_some_squad_articles(squad_file, tmp_path):
    parser = argparse.ArgumentParser()
    add_question_arguments(parser)
    golds, index_dir = questions_and_index(parser.parse_args(["--squad", str(squad_file), "--articles", "Normans"]))
    assert golds and {g["sources"][0] for g in golds} == {"Normans"} and index_dir == SQUAD_INDEX
    with pytest.raises(ValueError, match="no such article in .*: Atlantis"):
        questions_and_index(parser.parse_args(["--squad", str(squad_file), "--articles", "Atlantis"]))

    gold = tmp_path / "gold.jsonl"
    gold.write_text(json.dumps({"id": "q1", "question": "Who won?", "answers": ["Ann"], "sources": ["a.txt"]}) + "\n")
    golds, index_dir = questions_and_index(parser.parse_args(["--dataset", str(gold), "--index", str(tmp_path)]))
    assert [g["id"] for g in golds] == ["q1"] and index_dir == tmp_path
    assert questions_and_index(parser.parse_args(["--dataset", str(gold)]))[1] == DEFAULT_INDEX
    with pytest.raises(ValueError, match="--articles goes with --squad"):
        questions_and_index(parser.parse_args(["--dataset", str(gold), "--articles", "Normans"]))
