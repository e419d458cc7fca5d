"""eval/sweep_reader.py: several recipes trained in one go, ranked on archive questions none read."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "eval" / "sweep_reader.py"
ARTICLES = {
    "ferry.txt": "The Kelbrook ferry carried a record 912 passengers on Sunday, the operator said. "
                 "Its new captain, Marta Lindqvist, took over the route in March 2021 after twenty years at sea.",
    "tickets.txt": "Tickets now cost £14 for adults because fuel prices rose sharply last winter, the council said.",
}


def write_inputs(root: Path, squad: Path, recipes: dict) -> list[str]:
    corpus = root / "corpus"
    corpus.mkdir()
    for name, text in ARTICLES.items():
        (corpus / name).write_text(text + "\n", encoding="utf-8")
    context = ARTICLES["ferry.txt"]
    synthetic = {"qid": "s1", "question": "Who took over the route?", "context": context,
                 "answer_start": context.index("Marta"), "answer_text": "Marta Lindqvist", "group": "ferry.txt",
                 "source": "synthetic"}
    (root / "synthetic.jsonl").write_text(json.dumps(synthetic) + "\n", encoding="utf-8")
    people = [{"id": "p1", "question": "How many passengers were carried?", "answers": ["912"],
               "sources": ["ferry.txt"], "article": "ferry.txt"}]
    proxy = [{"id": "x1", "question": "What do adult tickets cost?", "answers": ["£14"], "sources": ["tickets.txt"],
              "article": "tickets.txt"},
             {"id": "x2", "question": "Who owns the ferry?", "answers": [], "sources": [], "article": "ferry.txt"}]
    for name, rows in (("people.jsonl", people), ("proxy.jsonl", proxy)):
        (root / name).write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    (root / "plan.json").write_text(json.dumps({"recipes": recipes, "runs": [[name, 13] for name in recipes]}),
                                    encoding="utf-8")
    return [sys.executable, str(SCRIPT), "--plan", str(root / "plan.json"), "--squad", str(squad),
            "--synthetic", str(root / "synthetic.jsonl"), "--questions", str(root / "people.jsonl"),
            "--questions-corpus", str(corpus), "--proxy", str(root / "proxy.jsonl"), "--device", "cpu",
            "--out", str(root / "out")]


def test_the_sweep_ranks_its_recipes_and_exports_the_best(tmp_path, tiny_squad_file):
    recipes = {"short": {"epochs": 1, "batch_size": 2, "validation_articles": ["Harbours"]},
               "slow": {"epochs": 1, "batch_size": 2, "learning_rate": 1e-5, "validation_articles": ["Harbours"]}}
    done = subprocess.run(write_inputs(tmp_path, tiny_squad_file, recipes), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads((tmp_path / "out" / "sweep.json").read_text(encoding="utf-8"))
    assert sorted(r["recipe"] for r in summary["ranking"]) == ["short", "slow"]
    assert all(0.0 <= r["proxy"]["all_f1_best_threshold"] <= 1.0 for r in summary["runs"])
    (best,) = summary["exported"]
    assert best.split("-")[0] == summary["ranking"][0]["recipe"]
    metadata = json.loads((tmp_path / "out" / best / "reader.json").read_text(encoding="utf-8"))
    assert metadata["training"]["people_questions"] == 1 and (tmp_path / "out" / best / "reader.onnx").is_file()


def test_a_plan_with_an_unknown_setting_is_refused_before_training(tmp_path, tiny_squad_file):
    command = write_inputs(tmp_path, tiny_squad_file, {"odd": {"learning_rat": 1e-4}})
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "unknown training settings ['learning_rat']" in done.stderr
    assert not (tmp_path / "out" / "sweep.json").exists()
