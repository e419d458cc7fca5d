"""Tests for rag.metrics on small hand-computed cases."""

from __future__ import annotations

import math

import pytest

from rag.metrics import (
    RIGHT_F1,
    abstention_metrics,
    calibration,
    citation_metrics,
    contains_gold,
    evaluate,
    exact_match,
    latency_stats,
    normalize_answer,
    passage_answer_recall,
    retrieval_metrics,
    sentence_correct,
    threshold_curve,
    token_f1,
)


def pred(qid: str, answer: str | None = None, **fields) -> dict:
    """A prediction record with harmless defaults."""
    record = {
        "id": qid,
        "question": f"question {qid}",
        "answer": answer,
        "sentence": None,
        "abstained": answer is None,
        "confidence": 0.5,
        "citations": [],
        "passages": [],
        "timings_ms": {},
    }
    record.update(fields)
    return record


def gold(qid: str, answers: list[str], sources: list[str] | None = None, question: str | None = None) -> dict:
    return {"id": qid, "question": question or f"question {qid}", "answers": answers, "sources": sources or []}


def passages(*docs: str, texts: list[str] | None = None) -> list[dict]:
    texts = texts or [""] * len(docs)
    return [
        {"doc": doc, "title": doc, "start": 0, "end": len(text), "text": text, "score": 1.0 / rank}
        for rank, (doc, text) in enumerate(zip(docs, texts), start=1)
    ]


def citation(doc: str, text: str, quote: str, n: int = 1, shift: int = 0) -> dict:
    """A citation whose offsets point at quote inside text, optionally shifted to break them."""
    start = text.index(quote) + shift if quote in text else 0
    return {"n": n, "doc": doc, "title": doc, "date": None, "start": start, "end": start + len(quote), "quote": quote}


# --- normalization and answer scores ---------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("The Cat's  hat!", "cats hat"),  # punctuation dropped without a space, "the" removed
        ("An apple, a day", "apple day"),
        ("“Quoted” — text…", "quoted text"),  # curly quotes, em dash and ellipsis are punctuation
        ("Theater and anthem", "theater and anthem"),  # articles only as whole words
        ("Three-hour", "threehour"),
        ("  \tA\n", ""),
    ],
)
def test_normalize_answer(text, expected):
    assert normalize_answer(text) == expected


def test_exact_match_normalizes():
    assert exact_match("The Eiffel Tower.", ["eiffel tower"]) == 1.0
    assert exact_match("Eiffel", ["eiffel tower"]) == 0.0


def test_partial_overlap_em_and_f1():
    # pred -> "threehour meeting" (2 tokens), gold -> "threehour" (1 token), overlap 1
    # P = 1/2, R = 1/1, F1 = 2 * 0.5 * 1 / 1.5 = 2/3
    assert exact_match("the three-hour meeting", ["three-hour"]) == 0.0
    assert token_f1("the three-hour meeting", ["three-hour"]) == pytest.approx(2 / 3)


def test_f1_takes_max_over_golds():
    # vs "president obama": P = 1/2, R = 1/2 -> 0.5; vs "obama": P = 1/2, R = 1 -> 2/3
    assert token_f1("Barack Obama", ["President Obama", "Obama"]) == pytest.approx(2 / 3)
    assert token_f1("Barack Obama", ["President Obama"]) == pytest.approx(0.5)
    assert token_f1("Angela Merkel", ["Obama"]) == 0.0


@pytest.mark.parametrize("score", [exact_match, token_f1, contains_gold])
def test_unanswerable_gold(score):
    assert score(None, []) == 1.0
    assert score("", []) == 1.0
    assert score("   ", []) == 1.0
    assert score("Paris", []) == 0.0


@pytest.mark.parametrize("score", [exact_match, token_f1, contains_gold, sentence_correct])
def test_missing_or_empty_prediction_for_answerable_gold(score):
    assert score(None, ["Paris"]) == 0.0
    assert score("", ["Paris"]) == 0.0


def test_contains_gold_respects_word_boundaries():
    assert contains_gold("He met them in Paris, France.", ["paris"]) == 1.0
    assert contains_gold("Parisian food", ["Paris"]) == 0.0
    assert contains_gold("in the U.S. capital", ["Rome", "US"]) == 1.0
    # A gold that normalizes to nothing must not match everything.
    assert contains_gold("anything at all", ["The"]) == 0.0


def test_sentence_correct():
    assert sentence_correct("The summit lasted three hours.", ["three hours"]) == 1.0
    assert sentence_correct("The summit was long.", ["three hours"]) == 0.0


# --- retrieval -----------------------------------------------------------------------


def retrieval_case():
    golds = [
        gold("q1", ["a"], ["d1"]),
        gold("q2", ["b"], ["d4", "d5"]),
        gold("q3", ["c"], ["d8"]),
        gold("q4", [], []),  # unanswerable: no sources, left out
    ]
    predictions = [
        pred("q2", "b", passages=passages("d4", "d6", "d7", "d5")),
        pred("q1", "a", passages=passages("d2", "d1", "d3", "d1")),  # dedup keeps first d1 -> d2, d1, d3
        pred("q3", "c", passages=[]),  # nothing retrieved
        pred("q4", None, passages=passages("d1")),
    ]
    return golds, predictions


def test_retrieval_metrics_hand_computed():
    golds, predictions = retrieval_case()
    result = retrieval_metrics(golds, predictions)
    # per query (q1, q2, q3):
    # recall@1: 0, 1/2, 0 -> 1/6      recall@3: 1, 1/2, 0 -> 1/2
    # recall@5: 1, 1, 0 -> 2/3        recall@10: 2/3
    # MRR: 1/2, 1, 0 -> 1/2
    # nDCG q1: (1/log2(3)) / 1 = 0.630930
    # nDCG q2: (1 + 1/log2(5)) / (1 + 1/log2(3)) = 1.430677 / 1.630930 = 0.877215
    # nDCG mean: (0.630930 + 0.877215 + 0) / 3 = 0.502715
    assert result["n"] == 3
    assert result["recall@1"] == pytest.approx(1 / 6)
    assert result["recall@3"] == pytest.approx(1 / 2)
    assert result["recall@5"] == pytest.approx(2 / 3)
    assert result["recall@10"] == pytest.approx(2 / 3)
    assert result["mrr@10"] == pytest.approx(1 / 2)
    ndcg_q1 = 1 / math.log2(3)
    ndcg_q2 = (1 + 1 / math.log2(5)) / (1 + 1 / math.log2(3))
    assert result["ndcg@10"] == pytest.approx((ndcg_q1 + ndcg_q2) / 3)
    assert result["ndcg@10"] == pytest.approx(0.502715, abs=1e-6)


def test_retrieval_custom_ks():
    golds, predictions = retrieval_case()
    result = retrieval_metrics(golds, predictions, ks=(2,))
    # recall@2: q1 has d1 at rank 2 -> 1, q2 has d4 of 2 -> 1/2, q3 -> 0
    assert set(result) == {"recall@2", "mrr@10", "ndcg@10", "n"}
    assert result["recall@2"] == pytest.approx(1.5 / 3)


def test_retrieval_nothing_retrieved_is_zero():
    golds = [gold("q1", ["a"], ["d1"]), gold("q2", ["b"], ["d2"])]
    predictions = [pred("q1", "a", passages=[])]  # q2 has no prediction at all
    result = retrieval_metrics(golds, predictions)
    assert result == {"recall@1": 0.0, "recall@3": 0.0, "recall@5": 0.0, "recall@10": 0.0,
                      "mrr@10": 0.0, "ndcg@10": 0.0, "n": 2}


def test_retrieval_without_answerable_questions_is_empty():
    assert retrieval_metrics([gold("q1", [], [])], [pred("q1", None, passages=passages("d1"))]) == {}


def test_passage_answer_recall():
    golds = [gold("q1", ["Paris"]), gold("q2", ["42"]), gold("q3", [])]
    predictions = [
        pred("q1", "Paris", passages=passages("d1", "d2", texts=["Rome is nice.", "He lives in Paris."])),
        pred("q2", "41", passages=passages("d3", texts=["Nothing relevant."])),
        pred("q3", None, passages=passages("d1", texts=["Paris"])),
    ]
    # q1 first hit at rank 2, q2 never: @1 = 0/2, @2 = 1/2; q3 is unanswerable and ignored
    assert passage_answer_recall(golds, predictions, ks=(1, 2)) == {
        "answer_recall@1": 0.0,
        "answer_recall@2": 0.5,
        "n": 2,
    }
    assert passage_answer_recall([gold("q3", [])], predictions) == {}


# --- citations -----------------------------------------------------------------------

D1 = "Alice met Bob in Paris on Monday."
D2 = "The summit lasted three hours."
DOC_TEXTS = {"d1": D1, "d2": D2}


def test_citation_metrics():
    golds = [
        gold("g1", ["Paris"], ["d1"]),
        gold("g2", ["three hours"], ["d2"]),
        gold("g3", []),
        gold("g4", ["Monday"], ["d1"]),
    ]
    predictions = [
        # cites d1 (gold) and d2 (not gold): precision 1/2; both offsets right; answer quoted
        pred("g1", "Paris", citations=[citation("d1", D1, "Alice met Bob in Paris"), citation("d2", D2, "The summit", n=2)]),
        # precision 1/1; offsets shifted by one -> broken; answer not in quote
        pred("g2", "three hours", citations=[citation("d2", D2, "summit lasted", shift=1)]),
        pred("g3", None),
        # unknown doc: precision 0, integrity fails; answer quoted
        pred("g4", "Monday", citations=[{"n": 1, "doc": "d9", "title": "", "date": None, "start": 0, "end": 6, "quote": "Monday"}]),
    ]
    result = citation_metrics(predictions, golds, DOC_TEXTS)
    assert result["citation_precision"] == pytest.approx((0.5 + 1.0 + 0.0) / 3)
    assert result["citation_integrity"] == pytest.approx(2 / 4)  # 4 citations, 2 intact
    assert result["answer_in_quote"] == pytest.approx(2 / 3)  # g1, g4 of g1, g2, g4


def test_citation_precision_counts_unique_docs():
    golds = [gold("g1", ["Paris"], ["d1"])]
    cites = [citation("d1", D1, "Alice", n=1), citation("d1", D1, "Paris", n=2), citation("d2", D2, "summit", n=3)]
    # unique cited docs {d1, d2}, one in gold -> 1/2 (not 2/3 by citation count)
    result = citation_metrics([pred("g1", "Paris", citations=cites)], golds, DOC_TEXTS)
    assert result["citation_precision"] == pytest.approx(0.5)
    assert result["citation_integrity"] == 1.0
    assert result["answer_in_quote"] == 1.0


def test_citation_metrics_empty_denominators_are_none():
    result = citation_metrics([pred("g3", None)], [gold("g3", [])], DOC_TEXTS)
    assert result == {"citation_precision": None, "citation_integrity": None, "answer_in_quote": None}


# --- abstention ----------------------------------------------------------------------


def test_abstention_metrics():
    golds = [
        gold("a1", ["x"]), gold("a2", ["x"]), gold("a3", ["x"]), gold("a4", ["x"]),
        gold("u1", []), gold("u2", []),
    ]
    predictions = [
        pred("a1", "x", abstained=False),
        pred("a2", "x", abstained=True),  # abstained flag wins over the answer string
        # a3 has no prediction -> abstained
        pred("a4", "", abstained=False),  # empty answer string -> abstained
        pred("u1", None, abstained=False),  # answer None -> abstained
        pred("u2", "something", abstained=False),
    ]
    # abstained: a2, a3, a4, u1 -> 1 of 4 unanswerable; unanswerable u1, u2 -> 1 of 2 abstained
    # answerable a1..a4 -> only a1 answered
    assert abstention_metrics(predictions, golds) == {
        "abstain_precision": pytest.approx(1 / 4),
        "abstain_recall": pytest.approx(1 / 2),
        "answered_rate": pytest.approx(1 / 4),
        "n_unanswerable": 2,
        "n_answerable": 4,
    }


def test_abstention_metrics_empty_denominators():
    result = abstention_metrics([pred("a1", "x", abstained=False)], [gold("a1", ["x"])])
    assert result["abstain_precision"] is None  # nothing abstained
    assert result["abstain_recall"] is None  # nothing unanswerable
    assert result["answered_rate"] == 1.0


# --- threshold curve -----------------------------------------------------------------


def curve_case():
    golds = [gold("g1", ["Paris"]), gold("g2", ["42"]), gold("g3", []), gold("g4", [])]
    predictions = [
        pred("g1", "Paris", abstained=False, confidence=0.9),  # right
        pred("g2", "41", abstained=False, confidence=0.6),  # wrong
        pred("g3", "something", abstained=False, confidence=0.3),  # wrong: unanswerable
        pred("g4", None, abstained=True, confidence=0.8),  # already abstained
    ]
    return golds, predictions


def test_threshold_curve_exact_values():
    golds, predictions = curve_case()
    points = {p["threshold"]: p for p in threshold_curve(predictions, golds, [0.0, 0.5, 0.6, 0.7, 0.95])}
    # t=0.0: g1, g2, g3 answered -> 3/4; wrong g2, g3 -> 2/3; g4 abstained -> 1/2 of unanswerable
    assert points[0.0] == pytest.approx(
        {"threshold": 0.0, "answered_rate": 0.75, "wrong_rate": 2 / 3, "answerable_answered": 1.0, "unanswerable_abstained": 0.5}
    )
    # t=0.5: g1, g2 -> 2/4; wrong g2 -> 1/2; both unanswerable abstained
    assert points[0.5] == pytest.approx(
        {"threshold": 0.5, "answered_rate": 0.5, "wrong_rate": 0.5, "answerable_answered": 1.0, "unanswerable_abstained": 1.0}
    )
    # confidence equal to the threshold still answers
    assert points[0.6]["answered_rate"] == 0.5
    # t=0.7: only g1
    assert points[0.7] == pytest.approx(
        {"threshold": 0.7, "answered_rate": 0.25, "wrong_rate": 0.0, "answerable_answered": 0.5, "unanswerable_abstained": 1.0}
    )
    # t=0.95: nothing answered, so the wrong rate is undefined
    assert points[0.95]["answered_rate"] == 0.0
    assert points[0.95]["wrong_rate"] is None


def test_threshold_curve_default_grid_is_monotonic():
    golds, predictions = curve_case()
    curve = threshold_curve(predictions, golds)
    thresholds = [p["threshold"] for p in curve]
    assert len(curve) == 21
    assert thresholds[0] == 0.0 and thresholds[-1] == 1.0
    assert thresholds[10] == pytest.approx(0.5)
    for earlier, later in zip(curve, curve[1:]):
        assert later["answered_rate"] <= earlier["answered_rate"]
        assert later["answerable_answered"] <= earlier["answerable_answered"]
        assert later["unanswerable_abstained"] >= earlier["unanswerable_abstained"]
    assert curve[-1]["answered_rate"] == 0.0


# --- calibration ---------------------------------------------------------------------


def test_calibration_perfectly_calibrated_has_zero_ece():
    # bin [0.2, 0.3): four answers at 0.25, one right; bin [0.7, 0.8): four at 0.75, three right
    golds = [gold(f"q{i}", ["Paris"]) for i in range(8)]
    answers = ["Paris", "Rome", "Rome", "Rome", "Paris", "Paris", "Paris", "Rome"]
    confidences = [0.25] * 4 + [0.75] * 4
    records = [pred(f"q{i}", a, abstained=False, confidence=c) for i, (a, c) in enumerate(zip(answers, confidences))]
    result = calibration(records, golds)
    assert result["ece"] == pytest.approx(0.0)
    assert result["right_f1"] == RIGHT_F1 == 0.5
    assert [b["count"] for b in result["bins"]] == [0, 0, 4, 0, 0, 0, 0, 4, 0, 0]
    assert result["bins"][2] == pytest.approx({"lo": 0.2, "hi": 0.3, "count": 4, "confidence": 0.25, "accuracy": 0.25})
    assert result["bins"][7]["accuracy"] == pytest.approx(0.75)
    assert result["bins"][0]["confidence"] is None and result["bins"][0]["accuracy"] is None


def overconfident_case():
    golds = [
        gold("a1", ["Paris"]), gold("a2", ["Oslo"]), gold("a3", ["Angela Merkel"]), gold("u1", []),
        gold("a4", ["President Obama"]), gold("a5", ["Bergen"]),
        gold("a6", ["Rome"]), gold("a7", ["Madrid"]),
    ]
    records = [
        pred("a1", "Paris", abstained=False, confidence=0.9),  # right
        pred("a2", "in Oslo", abstained=False, confidence=0.9),  # right: F1 1 after normalization
        pred("a3", "Merkel said on Monday", abstained=False, confidence=0.9),  # F1 2/5 -> wrong
        pred("u1", "Paris", abstained=False, confidence=0.9),  # wrong: unanswerable
        pred("a4", "Barack Obama", abstained=False, confidence=0.6),  # F1 exactly 0.5 -> right
        pred("a5", "Trondheim", abstained=False, confidence=0.6),  # wrong
        pred("a6", None, abstained=True, confidence=0.95),  # abstained even with nothing withheld
        # a7: no record at all
    ]
    return golds, records


def test_calibration_overconfident_ece_hand_computed():
    golds, records = overconfident_case()
    result = calibration(records, golds)
    # six answers; bin [0.9, 1.0]: conf 0.9, accuracy 2/4 -> gap 0.4, share 4/6
    #              bin [0.6, 0.7): conf 0.6, accuracy 1/2 -> gap 0.1, share 2/6
    # ECE = 4/6 * 0.4 + 2/6 * 0.1 = 0.3
    assert result["ece"] == pytest.approx(0.3)
    assert result["bins"][9] == pytest.approx({"lo": 0.9, "hi": 1.0, "count": 4, "confidence": 0.9, "accuracy": 0.5})
    assert result["bins"][6] == pytest.approx({"lo": 0.6, "hi": 0.7, "count": 2, "confidence": 0.6, "accuracy": 0.5})
    assert sum(b["count"] for b in result["bins"]) == 6
    # with five bins of width 0.2 the groups fall in [0.8, 1.0] and [0.6, 0.8): same ECE
    assert calibration(records, golds, bins=5)["ece"] == pytest.approx(0.3)


def test_calibration_risk_coverage():
    golds, records = overconfident_case()
    curve = calibration(records, golds)["risk_coverage"]
    points = {p["threshold"]: p for p in curve}
    assert len(curve) == 41 and curve[0]["threshold"] == 0.0 and curve[-1]["threshold"] == 1.0
    assert points[0.025]["threshold"] == 0.025
    # t=0: six of eight questions answered (a6 abstained, a7 missing), three wrong
    assert points[0.0] == pytest.approx({"threshold": 0.0, "coverage": 6 / 8, "risk": 3 / 6})
    # confidence equal to the threshold still answers
    assert points[0.6] == pytest.approx({"threshold": 0.6, "coverage": 6 / 8, "risk": 3 / 6})
    assert points[0.625] == pytest.approx({"threshold": 0.625, "coverage": 4 / 8, "risk": 2 / 4})
    assert points[0.9] == pytest.approx({"threshold": 0.9, "coverage": 4 / 8, "risk": 2 / 4})
    # t=1: nothing answered, so the risk is undefined
    assert points[1.0] == {"threshold": 1.0, "coverage": 0.0, "risk": None}
    for earlier, later in zip(curve, curve[1:]):
        assert later["coverage"] <= earlier["coverage"]


def test_calibration_confidence_one_lands_in_last_bin_and_empty_is_none():
    result = calibration([pred("q", "Paris", abstained=False, confidence=1.0)], [gold("q", ["Paris"])])
    assert result["bins"][-1]["count"] == 1 and result["ece"] == pytest.approx(0.0)
    empty = calibration([], [gold("q", ["Paris"])])
    assert empty["ece"] is None
    assert empty["risk_coverage"][0] == {"threshold": 0.0, "coverage": 0.0, "risk": None}


# --- latency -------------------------------------------------------------------------


def test_latency_stats():
    totals = [10.0, 20.0, 30.0, 40.0, 100.0]
    predictions = [pred(f"q{i}", "x", timings_ms={"total": t}) for i, t in enumerate(totals)]
    predictions[0]["timings_ms"]["retrieve"] = 1.0
    predictions[1]["timings_ms"]["retrieve"] = 3.0
    predictions.append(pred("q9", "x", timings_ms={}))  # no timings: ignored
    stats = latency_stats(predictions)
    # total: p50 = 30; p95 at index 0.95 * 4 = 3.8 -> 40 + 0.8 * (100 - 40) = 88; mean 200 / 5 = 40
    assert stats["total"] == pytest.approx({"p50": 30.0, "p95": 88.0, "mean": 40.0})
    # retrieve: [1, 3] -> p50 2, p95 1 + 0.95 * 2 = 2.9, mean 2
    assert stats["retrieve"] == pytest.approx({"p50": 2.0, "p95": 2.9, "mean": 2.0})
    assert set(stats) == {"total", "retrieve"}


# --- end to end ----------------------------------------------------------------------

MEETING = "The council met on Tuesday. The three-hour meeting ended at noon."
RAIN = "Rain is expected in Oslo tomorrow."


def end_to_end_case():
    doc_texts = {"d1": MEETING, "d2": RAIN}
    golds = [
        gold("q1", ["three-hour"], ["d1"], "How long was the meeting?"),
        gold("q2", ["Oslo"], ["d2"], "Where is rain expected?"),
        gold("q3", [], [], "Who won the lottery?"),
        gold("q4", ["Tuesday"], ["d1"], "When did the council meet?"),  # no prediction
    ]
    predictions = [
        pred(
            "q1", "three-hour meeting", abstained=False, confidence=0.8,
            sentence="The three-hour meeting ended at noon.",
            citations=[citation("d1", MEETING, "The three-hour meeting ended at noon.")],
            passages=passages("d1", "d2", texts=[MEETING, RAIN]),
            timings_ms={"retrieve": 40.0, "answer": 60.0, "total": 100.0},
        ),
        pred(
            "q2", "Oslo", abstained=False, confidence=0.9,
            sentence=RAIN,
            citations=[citation("d2", RAIN, RAIN)],
            passages=[],  # nothing retrieved, yet the answer is right
            timings_ms={"retrieve": 10.0, "answer": 40.0, "total": 50.0},
        ),
        pred(
            "q3", "Bergen", abstained=False, confidence=0.95,
            sentence="Bergen won.",
            citations=[citation("d2", RAIN, "Rain")],
            passages=passages("d2", texts=[RAIN]),
            timings_ms={"retrieve": 5.0, "answer": 25.0, "total": 30.0},
            error="reader warning",
        ),
        pred("zz", "ignored", abstained=False),  # no gold: not evaluated
    ]
    return golds, predictions, doc_texts


def test_evaluate_end_to_end_summary():
    golds, predictions, doc_texts = end_to_end_case()
    summary, rows = evaluate(golds, predictions, doc_texts)
    assert summary["n_questions"] == 4
    assert summary["n_errors"] == 1
    # answerable q1, q2, q4: EM 0, 1, 0; F1 2/3, 1, 0; contains 1, 1, 0; sentence 1, 1, 0
    assert summary["answers"]["exact_match"] == pytest.approx(1 / 3)
    assert summary["answers"]["f1"] == pytest.approx(5 / 9)
    assert summary["answers"]["contains_gold"] == pytest.approx(2 / 3)
    assert summary["answers"]["sentence_accuracy"] == pytest.approx(2 / 3)
    # all four, q3 (unanswerable, answered) scores 0: EM 1/4, F1 (2/3 + 1) / 4 = 5/12
    assert summary["answers"]["exact_match_all"] == pytest.approx(1 / 4)
    assert summary["answers"]["f1_all"] == pytest.approx(5 / 12)
    # retrieval over q1, q2, q4: only q1 retrieves anything, with d1 at rank 1
    assert summary["retrieval"]["n"] == 3
    for key in ("recall@1", "recall@10", "mrr@10", "ndcg@10"):
        assert summary["retrieval"][key] == pytest.approx(1 / 3)
    assert summary["passage_recall"]["answer_recall@1"] == pytest.approx(1 / 3)
    # precision over q1, q2 (both cite their gold doc); 3 intact citations; q1, q2 quoted, q3 not
    assert summary["citations"] == pytest.approx(
        {"citation_precision": 1.0, "citation_integrity": 1.0, "answer_in_quote": 2 / 3}
    )
    # only q4 abstained (answerable); q3 unanswerable but answered
    assert summary["abstention"] == pytest.approx(
        {"abstain_precision": 0.0, "abstain_recall": 0.0, "answered_rate": 2 / 3, "n_unanswerable": 1, "n_answerable": 3}
    )
    # q4's stand-in prediction has no timings: totals 100, 50, 30
    assert summary["latency_ms"]["total"] == pytest.approx({"p50": 50.0, "p95": 95.0, "mean": 60.0})
    assert summary["curve"][0]["answered_rate"] == pytest.approx(3 / 4)
    assert summary["curve"][0]["wrong_rate"] == pytest.approx(1 / 3)


def test_evaluate_end_to_end_rows():
    golds, predictions, doc_texts = end_to_end_case()
    _, rows = evaluate(golds, predictions, doc_texts)
    by_id = {row["id"]: row for row in rows}
    assert [row["id"] for row in rows] == ["q1", "q2", "q3", "q4"]
    q1 = by_id["q1"]
    assert (q1["em"], q1["contains"], q1["sentence_ok"], q1["correct"]) == (0.0, 1.0, 1.0, True)
    assert q1["f1"] == pytest.approx(2 / 3)
    assert q1["question"] == "How long was the meeting?"
    assert q1["gold_answers"] == ["three-hour"]
    assert q1["top_quote"] == "The three-hour meeting ended at noon."
    assert q1["top_doc"] == "d1"
    assert q1["latency_total_ms"] == 100.0
    assert by_id["q2"]["correct"] is True
    q3 = by_id["q3"]
    assert (q3["em"], q3["f1"], q3["correct"], q3["abstained"]) == (0.0, 0.0, False, False)
    q4 = by_id["q4"]
    assert (q4["abstained"], q4["correct"], q4["confidence"]) == (True, False, 0.0)
    assert q4["answer"] is None and q4["top_quote"] is None and q4["latency_total_ms"] is None


def test_evaluate_abstained_prediction_scores_as_no_answer():
    golds = [gold("u", []), gold("a", ["Paris"])]
    # both carry an answer string, but the abstained flag means nothing was answered
    predictions = [pred("u", "Paris", abstained=True), pred("a", "Paris", abstained=True)]
    summary, rows = evaluate(golds, predictions, {})
    u_row, a_row = rows
    assert (u_row["em"], u_row["f1"], u_row["correct"]) == (1.0, 1.0, True)
    assert (a_row["em"], a_row["contains"], a_row["correct"]) == (0.0, 0.0, False)
    assert summary["answers"]["exact_match_all"] == 0.5
    assert summary["retrieval"] == {}  # no gold sources
