"""Tests for rag.report.write_report."""

from __future__ import annotations

import json

from rag.metrics import calibration, evaluate
from rag.report import write_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PLOTS = ("recall_at_k.png", "latency.png", "confidence.png")


def row(qid: str, question: str, correct: bool, confidence: float, answer: str | None = "x", **fields) -> dict:
    record = {
        "id": qid,
        "question": question,
        "gold_answers": ["gold " + qid],
        "answerable": True,
        "answer": answer,
        "sentence": None,
        "abstained": answer is None,
        "confidence": confidence,
        "em": float(correct),
        "f1": float(correct),
        "contains": float(correct),
        "sentence_ok": float(correct),
        "correct": correct,
        "top_quote": None,
        "top_doc": None,
        "latency_total_ms": 10.0 + confidence * 100,
    }
    record.update(fields)
    return record


def small_summary() -> dict:
    return {
        "n_questions": 3,
        "n_errors": 0,
        "answers": {"exact_match": 0.25, "f1": 0.5, "contains_gold": 0.75},
        "retrieval": {"recall@1": 0.5, "recall@3": 0.75, "recall@10": 1.0, "mrr@10": 0.6, "ndcg@10": 0.7, "n": 3},
        "passage_recall": {"answer_recall@1": 0.5},
        "citations": {"citation_precision": None, "citation_integrity": 1.0, "answer_in_quote": 0.5},
        "abstention": {"abstain_precision": 0.5},
        "latency_ms": {"total": {"p50": 40.0, "p95": 90.0, "mean": 50.0}},
        "curve": [
            {"threshold": 0.0, "answered_rate": 1.0, "wrong_rate": 0.5},
            {"threshold": 0.5, "answered_rate": 0.5, "wrong_rate": 0.25},
            {"threshold": 1.0, "answered_rate": 0.0, "wrong_rate": None},
        ],
    }


def small_rows() -> list[dict]:
    return [
        row("r1", "Who chaired the summit?", correct=True, confidence=0.99),
        row("r2", "How many ships docked in Bergen?", correct=False, confidence=0.9,
            answer="twelve", top_quote="Eleven ships docked.", top_doc="doc-7"),
        row("r3", "When did the strike end?", correct=False, confidence=0.2, answer=None),
    ]


COMPARE = [
    {"setting": "bm25", "recall@1": 0.4, "recall@5": 0.7, "f1": 0.5},
    {"setting": "hybrid+rerank", "recall@1": 0.6, "recall@5": 0.9, "f1": 0.6},
    {"setting": "no-retrieval-columns", "f1": 0.1},
]


def assert_valid_pngs(out_dir):
    for name in PLOTS:
        data = (out_dir / name).read_bytes()
        assert data.startswith(PNG_MAGIC), name
        assert len(data) > 1000, name  # an actual rendered figure, not a stub


def test_write_report_files_and_content(tmp_path):
    out_dir = tmp_path / "run"  # does not exist yet
    report_path = write_report(out_dir, small_summary(), small_rows(), COMPARE)

    assert report_path == out_dir / "report.md"
    assert_valid_pngs(out_dir)

    metrics = json.loads((out_dir / "metrics.json").read_text())
    assert metrics["retrieval"]["recall@3"] == 0.75
    assert metrics["citations"]["citation_precision"] is None
    assert [entry["setting"] for entry in metrics["compare"]] == ["bm25", "hybrid+rerank", "no-retrieval-columns"]

    text = report_path.read_text()
    assert "0.750" in text  # recall@3 in the headline table
    assert "| bm25 |" in text and "| hybrid+rerank |" in text
    failures = text.split("worst failures", 1)[1]
    # confidently wrong first; the correct row is not a failure
    assert failures.index("How many ships docked in Bergen?") < failures.index("When did the strike end?")
    assert "Who chaired the summit?" not in failures
    assert "twelve" in failures and "Eleven ships docked." in failures and "gold r2" in failures
    assert "abstained" in failures.split("When did the strike end?", 1)[1]


def test_write_report_without_compare(tmp_path):
    write_report(tmp_path, small_summary(), small_rows())
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert "compare" not in metrics
    assert "Comparison" not in (tmp_path / "report.md").read_text()
    assert_valid_pngs(tmp_path)


def test_worst_failures_keep_the_ten_most_confident(tmp_path):
    rows = [row(f"w{i}", f"Failing question number {i:02d}?", correct=False, confidence=i / 20) for i in range(12)]
    text = write_report(tmp_path, small_summary(), rows).read_text()
    # confidences 0.00 and 0.05 (w0, w1) fall outside the top ten
    assert "Failing question number 11?" in text
    assert "Failing question number 02?" in text
    assert "Failing question number 01?" not in text
    assert "Failing question number 00?" not in text


def test_write_report_with_empty_inputs(tmp_path):
    text = write_report(tmp_path, {}, []).read_text()
    assert "No failures." in text
    assert_valid_pngs(tmp_path)


def test_write_report_from_evaluate_output(tmp_path):
    doc = "Rain is expected in Oslo tomorrow."
    golds = [
        {"id": "a", "question": "Where is rain expected?", "answers": ["Oslo"], "sources": ["d1"]},
        {"id": "b", "question": "Who won the lottery?", "answers": [], "sources": []},
    ]
    predictions = [
        {"id": "a", "question": "Where is rain expected?", "answer": "Oslo", "sentence": doc, "abstained": False,
         "confidence": 0.7, "citations": [{"n": 1, "doc": "d1", "title": "t", "date": None, "start": 0,
                                           "end": len(doc), "quote": doc}],
         "passages": [{"doc": "d1", "title": "t", "start": 0, "end": len(doc), "text": doc, "score": 3.0}],
         "timings_ms": {"retrieve": 5.0, "answer": 7.0, "total": 12.0}},
        {"id": "b", "question": "Who won the lottery?", "answer": "Oslo", "sentence": doc, "abstained": False,
         "confidence": 0.6, "citations": [{"n": 1, "doc": "d1", "title": "t", "date": None, "start": 0,
                                           "end": 4, "quote": "Rain"}],
         "passages": [], "timings_ms": {"total": 20.0}},
    ]
    summary, rows = evaluate(golds, predictions, {"d1": doc})
    text = write_report(tmp_path, summary, rows).read_text()
    failures = text.split("worst failures", 1)[1]
    assert "Who won the lottery?" in failures and "unanswerable" in failures
    assert "Where is rain expected?" not in failures
    assert json.loads((tmp_path / "metrics.json").read_text())["n_questions"] == 2
    assert_valid_pngs(tmp_path)


def calibration_summary() -> dict:
    return {
        "ece": 0.125,
        "bins": [
            {"lo": i / 10, "hi": (i + 1) / 10, "count": count, "confidence": conf, "accuracy": acc}
            for i, (count, conf, acc) in enumerate(
                [(0, None, None)] * 5 + [(2, 0.55, 0.5), (0, None, None), (3, 0.75, 0.667), (0, None, None), (5, 0.95, 0.8)]
            )
        ],
        "risk_coverage": [
            {"threshold": round(step * 0.025, 3), "coverage": max(0.0, 1 - step * 0.025), "risk": 0.4 - step * 0.005}
            for step in range(40)
        ] + [{"threshold": 1.0, "coverage": 0.0, "risk": None}],
        "right_f1": 0.5,
    }


def test_write_report_calibration(tmp_path):
    summary = small_summary()
    summary["calibration"] = calibration_summary()
    text = write_report(tmp_path, summary, small_rows()).read_text()
    data = (tmp_path / "calibration.png").read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 1000
    assert "| ECE | 0.125 |" in text
    section = text.split("## Calibration", 1)[1].split("##", 1)[0]
    assert "ECE: 0.125" in section
    # threshold 0.3 is step 12: coverage 1 - 0.3 = 0.7, risk 0.4 - 0.06 = 0.34
    assert "| 0.300 | 0.700 | 0.340 |" in section
    for threshold in ("0.500", "0.700", "0.900"):
        assert f"| {threshold} |" in section
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["calibration"]["ece"] == 0.125
    assert len(metrics["calibration"]["risk_coverage"]) == 41


def test_write_report_without_calibration_skips_it(tmp_path):
    text = write_report(tmp_path, small_summary(), small_rows()).read_text()
    assert "Calibration" not in text and "ECE" not in text
    assert not (tmp_path / "calibration.png").exists()


def test_write_report_calibration_from_metrics(tmp_path):
    golds = [{"id": f"q{i}", "question": f"Question {i}?", "answers": ["Oslo"] if i % 3 else [], "sources": []}
             for i in range(12)]
    raw = [{"id": f"q{i}", "question": f"Question {i}?", "answer": "Oslo" if i % 4 else "Bergen",
            "sentence": None, "abstained": False, "confidence": i / 12, "citations": [], "passages": [],
            "timings_ms": {"total": 10.0 + i}} for i in range(12)]
    summary, rows = evaluate(golds, raw, {})
    summary["calibration"] = calibration(raw, golds)
    text = write_report(tmp_path, summary, rows).read_text()
    assert (tmp_path / "calibration.png").read_bytes().startswith(PNG_MAGIC)
    assert "## Calibration" in text
    stored = json.loads((tmp_path / "metrics.json").read_text())["calibration"]
    assert stored["ece"] == summary["calibration"]["ece"]
    assert sum(b["count"] for b in stored["bins"]) == 12
