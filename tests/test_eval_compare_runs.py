"""eval/compare_runs.py: two `rag eval` runs compared question by question."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "eval" / "compare_runs.py"
GOLDS = [
    {"id": "q1", "question": "Who won?", "answers": ["Ann Lee"], "sources": ["a.txt"]},
    {"id": "q2", "question": "How much?", "answers": ["£5m"], "sources": ["a.txt"]},
    {"id": "q3", "question": "When?", "answers": ["2004"], "sources": ["b.txt"]},
    {"id": "q4", "question": "Who lost?", "answers": [], "sources": []},
]


def write_run(root: Path, answers: dict[str, str | None]) -> Path:
    folder = root / "set"
    folder.mkdir(parents=True)
    lines = [json.dumps({"id": qid, "answer": answer, "abstained": answer is None}) for qid, answer in answers.items()]
    (folder / "predictions.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def compare(tmp_path: Path, base: Path, candidate: Path, *options: str) -> list[list[str]]:
    gold = tmp_path / "gold"
    gold.mkdir(exist_ok=True)
    (gold / "set.jsonl").write_text("\n".join(json.dumps(g) for g in GOLDS) + "\n", encoding="utf-8")
    out = subprocess.run([sys.executable, str(SCRIPT), str(base), str(candidate), "set", "--gold", str(gold), *options],
                         capture_output=True, text=True, check=True).stdout
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in out.splitlines()[2:]]


def test_a_run_compared_with_itself_differs_by_nothing(tmp_path):
    run = write_run(tmp_path / "a", {"q1": "Ann Lee", "q2": "£3m", "q3": None, "q4": None})
    [row] = compare(tmp_path, run, run)
    assert row == ["set", "4", "0.500", "0.500", "+0.000", "[+0.000, +0.000]"]


def test_one_more_right_answer_and_one_wrongly_answered_unanswerable(tmp_path):
    base = write_run(tmp_path / "a", {"q1": "Ann Lee", "q2": "£3m", "q3": None, "q4": None})
    candidate = write_run(tmp_path / "b", {"q1": "Ann Lee", "q2": "£5m", "q3": None, "q4": "Bob"})
    [row] = compare(tmp_path, base, candidate)
    assert row[:5] == ["set", "4", "0.500", "0.500", "+0.000"]  # +1 on q2, -1 on q4 (all-question F1)
    low, high = (float(v) for v in row[5].strip("[]").split(","))
    assert low < 0 < high
    [row] = compare(tmp_path, base, candidate, "--metric", "contains")  # answerable questions only
    assert row[:5] == ["set", "3", "0.333", "0.667", "+0.333"]
