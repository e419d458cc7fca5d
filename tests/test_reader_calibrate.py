"""Fitting the combiner: the confidence (P(right)), the expected-F1 ranker and the threshold."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from rag.answer import Answerer
from rag.ingest import load_documents
from rag.reader import calibrate
from rag.reader.scoring import CONFIDENCE_FEATURES, FEATURES, Combiner
from rag.store import Index, build_index

ARTICLES = {
    "ferry.txt": (
        "Kelbrook ferry sets a record\n\n"
        "The Kelbrook ferry carried a record 912 passengers on Sunday, the operator said. "
        "Its new captain, Marta Lindqvist, took over the route in March 2021 after twenty years at sea. "
        "Tickets now cost £14 for adults because fuel prices rose sharply last winter.\n"
    ),
    "library.txt": (
        "Dunmore library reopens\n\n"
        "The Dunmore public library reopened on Monday after a refit that cost £2.3 million. "
        "The architect Tomas Okafor added a reading garden on the roof. "
        "The library now opens until 9pm on weekdays because students asked for longer hours.\n"
    ),
}
QUESTIONS = {
    "ferry.txt": [
        ("Who is the new captain of the Kelbrook ferry?", ["Marta Lindqvist"]),
        ("How many passengers did the ferry carry on Sunday?", ["912", "a record 912"]),
        ("How much does an adult ferry ticket cost?", ["£14"]),
        ("When did the captain take over the route?", ["March 2021"]),
        ("Why did ferry tickets get dearer?", ["fuel prices rose sharply last winter"]),
        ("Who owns the Kelbrook ferry company?", []),
    ],
    "library.txt": [
        ("How much did the library refit cost?", ["£2.3 million"]),
        ("Which architect worked on the library?", ["Tomas Okafor"]),
        ("What did the architect add on the roof?", ["a reading garden"]),
        ("When did the Dunmore library reopen?", ["Monday", "on Monday"]),
        ("Why does the library open later on weekdays?", ["students asked for longer hours"]),
        ("How many books does the Dunmore library hold?", []),
    ],
}


def rows_with_pieces(n_questions: int = 60) -> list[dict]:
    """Questions whose right answer comes whole (two words, F1 1) and as a piece (one word, F1
    0.67) with the same reader scores, among wrong spans of both lengths: every span of the first
    two kinds is "right" (F1 ≥ 0.5), so only its F1 tells the whole answer from the piece."""
    rng = np.random.default_rng(0)
    rows = []
    for q in range(n_questions):
        margin = rng.normal(2.0, 1.0)
        shared = {"span_prob": 0.3, "best_margin": margin, "lead": 1.0, "inv_rank": 1.0, "agreement": 0.0,
                  "top_dense": 0.6, "passage_dense": 0.55, "question_words": math.log1p(7)}
        candidates = [
            {"features": {**shared, "margin": margin, "words": math.log1p(2)}, "f1": 1.0},
            {"features": {**shared, "margin": margin, "words": math.log1p(1)}, "f1": 2 / 3},
        ]
        for words in (1, 2, 1, 2):
            wrong = rng.normal(-3.0, 1.5)
            candidates.append({"features": {**shared, "margin": wrong, "lead": wrong - margin, "span_prob": 0.05,
                                            "words": math.log1p(words)}, "f1": 0.0})
        rows.append({"id": str(q), "group": f"article{q % 2}", "answers": ["x"], "candidates": candidates})
    return rows


def test_the_ranker_predicts_the_expected_f1_and_prefers_the_whole_answer():
    rows = rows_with_pieces()
    ranker = calibrate.fit(rows, target="f1")
    confidence = calibrate.fit(rows)
    candidates = [c for r in rows for c in r["candidates"]]
    # a logistic fit with an intercept matches its targets' mean: the ranker's is the mean F1
    assert np.mean([ranker(c["features"]) for c in candidates]) == pytest.approx(np.mean([c["f1"] for c in candidates]), abs=0.01)
    whole, piece = rows[0]["candidates"][:2]
    assert ranker(whole["features"]) > ranker(piece["features"])
    # the confidence model sees both as right: it does not tell them apart by much
    assert abs(confidence(whole["features"]) - confidence(piece["features"])) < ranker(whole["features"]) - ranker(piece["features"])


def test_the_answer_is_the_best_ranked_span_and_its_confidence_is_p_right():
    rows = rows_with_pieces()
    combiner = calibrate.fit_combiner(rows)
    [top] = calibrate.top_answers(rows[:1], {"article0": combiner})
    assert top["f1"] == 1.0
    assert top["confidence"] == pytest.approx(combiner.probability(rows[0]["candidates"][0]["features"]))
    with pytest.raises(ValueError, match="unknown target"):
        calibrate.fit(rows, target="contains")


@pytest.fixture(scope="module")
def answerer(tmp_path_factory, embedder) -> Answerer:
    corpus = tmp_path_factory.mktemp("calibration-corpus")
    for name, text in ARTICLES.items():
        (corpus / name).write_text(text, encoding="utf-8")
    index_dir = corpus.parent / "calibration-index"
    build_index(load_documents([corpus]).documents, index_dir, embedder)
    return Answerer(Index.open(index_dir), embedder).warm_up()


def test_calibrate_fits_out_of_fold_and_writes_the_combiner_and_its_report(answerer, tmp_path):
    golds = [{"id": f"{doc}-{k}", "question": q, "answers": answers, "sources": [doc]}
             for doc, questions in QUESTIONS.items() for k, (q, answers) in enumerate(questions)]
    squad_like = calibrate.QuestionSet("squad", answerer, golds, [g["sources"][0] for g in golds])
    result = calibrate.calibrate([squad_like], tmp_path)

    fitted, summary = result["combiner"], result["calibration"]
    # the confidence reads how closely the archive matches the question; the ranker, the spans
    assert set(fitted["weights"]) == set(CONFIDENCE_FEATURES) and set(fitted["ranker"]["weights"]) == set(FEATURES)
    assert summary["ranker_features"] == list(FEATURES)
    assert "ranker" not in result["combiner_reader_alone"]
    assert summary["questions"] == len(golds) and summary["groups"] == sorted(QUESTIONS)
    assert summary["ranked_by"] == "expected F1" and 0.0 <= summary["ece_out_of_fold"] <= 1.0
    # the threshold is the best all-question F1 among those answering enough (or the lowest)
    curve = json.loads((tmp_path / "calibration.json").read_text())["curve"]
    allowed = [row for row in curve if row["answered"] >= calibrate.MIN_ANSWERED] or curve[:1]
    assert fitted["threshold"] == summary["threshold"] == max(allowed, key=lambda row: row["all_f1"])["threshold"]
    assert (tmp_path / "calibration.png").stat().st_size > 0

    combiner = Combiner.from_metadata(result)
    assert combiner.ranker is not None and Combiner.from_metadata({"combiner": combiner.to_dict()}) == combiner


def test_question_sets_are_pooled_and_reported_each_on_its_own(answerer, tmp_path):
    def golds(doc):
        return [{"id": f"{doc}-{k}", "question": q, "answers": answers, "sources": [doc] if answers else []}
                for k, (q, answers) in enumerate(QUESTIONS[doc])]

    ferry, library = golds("ferry.txt"), golds("library.txt")
    result = calibrate.calibrate([
        calibrate.QuestionSet("squad", answerer, ferry, ["ferry.txt"] * len(ferry)),
        calibrate.QuestionSet("news", answerer, library, ["news-1"] * len(library)),
    ], tmp_path)

    summary = result["calibration"]
    assert summary["groups"] == ["ferry.txt", "news-1"] and summary["questions"] == len(ferry) + len(library)
    by_source = summary["by_source"]
    assert {name: part["questions"] for name, part in by_source.items()} == {"news": len(library), "squad": len(ferry)}
    for part in by_source.values():
        assert part["at_threshold"]["threshold"] == summary["threshold"]
        assert 0.0 <= part["ece_out_of_fold"] <= 1.0
        assert "curve" not in part  # each set's threshold table is in the report, not the metadata
    reported = json.loads((tmp_path / "calibration.json").read_text())["by_source"]
    for name, part in reported.items():
        assert next(row for row in part["curve"] if row["threshold"] == summary["threshold"]) == by_source[name]["at_threshold"]


def write_news_archive(root):
    """A corpus folder by topic, as the BBC one is, with one question file over two of its articles."""
    corpus = root / "corpus"
    for doc_id, text in {"local/ferry.txt": ARTICLES["ferry.txt"], "local/library.txt": ARTICLES["library.txt"],
                         "sport/derby.txt": "Derby day\n\nRovers beat United 2-1 in the derby on Saturday.\n"}.items():
        (corpus / doc_id).parent.mkdir(parents=True, exist_ok=True)
        (corpus / doc_id).write_text(text, encoding="utf-8")
    questions = [
        {"id": "n1", "question": "Who captains the Kelbrook ferry now?", "answers": ["Marta Lindqvist"],
         "sources": ["local/ferry.txt"], "article": "local/ferry.txt"},
        {"id": "n2", "question": "How many books does the Dunmore library hold?", "answers": [], "sources": [],
         "article": "local/library.txt"},
    ]
    (root / "questions.jsonl").write_text("".join(json.dumps(q) + "\n" for q in questions), encoding="utf-8")
    (root / "archive.txt").write_text("local/ferry.txt\nlocal/library.txt\n", encoding="utf-8")
    return corpus


def test_news_questions_are_asked_of_their_archive_in_folds_by_article(tmp_path):
    corpus = write_news_archive(tmp_path)
    news = calibrate.NewsQuestions(tmp_path / "questions.jsonl", corpus, tmp_path / "archive.txt")

    documents, golds, folds = news.load()

    assert sorted(d.id for d in documents) == ["local/ferry.txt", "local/library.txt"]  # the derby is not listed
    assert [g["id"] for g in golds] == ["n1", "n2"]
    assert folds == ["news-1", "news-2"]  # an unanswerable question goes with the article it was written over
    everything, _, _ = calibrate.NewsQuestions(tmp_path / "questions.jsonl", corpus).load()
    assert len(everything) == 3


def test_news_questions_fail_clearly_on_an_article_outside_the_archive(tmp_path):
    from rag.gold import GoldFormatError

    corpus = write_news_archive(tmp_path)
    (tmp_path / "archive.txt").write_text("local/ferry.txt\n", encoding="utf-8")
    with pytest.raises(GoldFormatError, match="'n2' needs an \"article\" of the archive"):
        calibrate.NewsQuestions(tmp_path / "questions.jsonl", corpus, tmp_path / "archive.txt").load()
    (tmp_path / "archive.txt").write_text("local/ferry.txt\nlocal/harbour.txt\n", encoding="utf-8")
    with pytest.raises(ValueError, match="1 listed articles are not in"):
        calibrate.NewsQuestions(tmp_path / "questions.jsonl", corpus, tmp_path / "archive.txt").load()
