"""Scoring a reader during training: SQuAD-style EM/F1 on held-out examples, and the report.

``predict`` runs any logits function (the PyTorch model while training, the int8 ONNX file
after export) over encoded windows; ``evaluate_predictions`` scores what it returns;
``write_report`` draws the loss curve and records the per-epoch scores.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from rag.metrics import exact_match, token_f1
from rag.reader.data import ReaderExample
from rag.reader.features import Windows
from rag.reader.model import decode_spans

LogitsFn = Callable[[Windows, np.ndarray], tuple[np.ndarray, np.ndarray]]


def predict(logits_fn: LogitsFn, windows: Windows, examples: Sequence[ReaderExample], max_answer_tokens: int,
            batch_size: int = 64) -> list[tuple[str, float]]:
    """For each example: its best span and that span's margin over "no answer" (open SQuAD 2.0
    style: empty string when no span beats the null score)."""
    start = np.full(windows.input_ids.shape, -1e4, dtype=np.float32)
    end = start.copy()
    for at in range(0, len(windows), batch_size):
        rows = np.arange(at, min(at + batch_size, len(windows)))
        s, e = logits_fn(windows, rows)
        start[rows, : s.shape[1]], end[rows, : e.shape[1]] = s, e
    best: dict[int, tuple[float, str]] = {}
    nulls: dict[int, float] = {}
    for span in decode_spans(start, end, windows, top_n=1, max_answer_tokens=max_answer_tokens):
        text = examples[span.context].context[span.start : span.end]
        if span.context not in best or span.score > best[span.context][0]:
            best[span.context] = (span.score, text)
        nulls[span.context] = min(nulls.get(span.context, np.inf), span.null_score)
    return [(best[i][1], best[i][0] - nulls[i]) if i in best else ("", -np.inf) for i in range(len(examples))]


def evaluate_predictions(examples: Sequence[ReaderExample], predictions: list[tuple[str, float]],
                         golds: dict[str, list[str]]) -> dict[str, float]:
    """Answerable EM/F1 of the best span (the reader given the gold paragraph), and SQuAD 2.0
    all-question EM/F1 with the null score as the abstention rule."""
    answerable = [(e, p) for e, p in zip(examples, predictions) if e.answerable]
    unanswerable = [(e, p) for e, p in zip(examples, predictions) if not e.answerable]
    em = float(np.mean([exact_match(p[0], golds[e.qid]) for e, p in answerable])) if answerable else 0.0
    f1 = float(np.mean([token_f1(p[0], golds[e.qid]) for e, p in answerable])) if answerable else 0.0
    all_f1 = [token_f1(p[0], golds[e.qid]) if p[1] > 0 else 0.0 for e, p in answerable]
    all_f1 += [1.0 if p[1] <= 0 else 0.0 for _, p in unanswerable]
    return {
        "answerable_em": round(em, 4), "answerable_f1": round(f1, 4),
        "no_answer_accuracy": round(float(np.mean([p[1] <= 0 for _, p in unanswerable])), 4) if unanswerable else 0.0,
        "all_f1_null_rule": round(float(np.mean(all_f1)), 4),
    }


def squad_gold_answers(path: Path) -> dict[str, list[str]]:
    """Every gold answer text of a SQuAD 2.0 file, by question id."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))["data"]
    return {
        qa["id"]: [a["text"] for a in qa.get("answers", [])]
        for article in data for paragraph in article["paragraphs"] for qa in paragraph["qas"]
    }


def write_training_report(folder: Path, losses: list[float], epochs: list[dict[str, Any]], metadata: dict[str, Any]) -> None:
    """``loss.png`` (training loss per batch, smoothed) and ``training.json`` (per-epoch scores)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "training.json").write_text(json.dumps(metadata, indent=2), encoding="utf-8")
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    window = 25
    smooth = np.convolve(losses, np.ones(window) / window, mode="valid") if len(losses) > window else losses
    left.plot(losses, alpha=0.3, label="batch")
    left.plot(range(len(smooth)), smooth, label=f"mean of {window}")
    left.set(xlabel="batch", ylabel="loss", title="training loss")
    left.legend()
    x = [e["epoch"] for e in epochs]
    for key in ("answerable_em", "answerable_f1", "no_answer_accuracy"):
        right.plot(x, [e[key] for e in epochs], marker="o", label=key)
    right.set(xlabel="epoch", ylim=(0, 1), title="validation (held-out SQuAD articles, gold paragraph)")
    right.legend()
    figure.tight_layout()
    figure.savefig(folder / "loss.png", dpi=100)
    plt.close(figure)
