"""Write evaluation results as metrics.json, a Markdown report and PNG plots."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Sequence

N_WORST = 10
# Risk-coverage rows shown in report.md; the full curve is in metrics.json and calibration.png.
CALIBRATION_ROWS = (0.3, 0.5, 0.7, 0.9)
SUMMARY_SECTIONS = ("answers", "retrieval", "passage_recall", "citations", "abstention")


def write_report(
    out_dir: Path, summary: dict, rows: list[dict], compare: list[dict] | None = None
) -> Path:
    """Write metrics.json, report.md and plots into out_dir; return the report.md path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_metrics_json(out_dir / "metrics.json", summary, compare)
    report_path = out_dir / "report.md"
    report_path.write_text(render_markdown(summary, rows, compare), encoding="utf-8")
    write_plots(out_dir, summary, rows, compare)
    return report_path


def write_metrics_json(path: Path, summary: dict, compare: list[dict] | None) -> None:
    """Summary keys at top level so readers need not know about the compare table."""
    payload = dict(summary)
    if compare is not None:
        payload["compare"] = compare
    with path.open("w", encoding="utf-8") as handle:
        json.dump(payload, handle, indent=2, default=_json_fallback)
        handle.write("\n")


def _json_fallback(value: Any) -> Any:
    # numpy scalars sneak in from callers that compute their own columns.
    if hasattr(value, "item"):
        return value.item()
    return str(value)


# --- Markdown ------------------------------------------------------------------------


def render_markdown(summary: dict, rows: Sequence[dict], compare: list[dict] | None) -> str:
    """The whole report.md text."""
    parts = ["# Evaluation report", "", "## Headline metrics", "", headline_table(summary), ""]
    if compare:
        parts += ["## Comparison", "", compare_table(compare), ""]
    if summary.get("calibration"):
        parts += ["## Calibration", "", calibration_section(summary["calibration"]), ""]
    parts += [f"## {N_WORST} worst failures", "", worst_failures(rows), ""]
    return "\n".join(parts)


def headline_metrics(summary: dict) -> list[tuple[str, Any]]:
    """Flatten the summary into (name, value) pairs, skipping the curve."""
    metrics: list[tuple[str, Any]] = [
        ("questions", summary.get("n_questions")),
        ("errors", summary.get("n_errors")),
    ]
    for section in SUMMARY_SECTIONS:
        metrics += [(f"{section}.{key}", value) for key, value in (summary.get(section) or {}).items()]
    for stage, stats in (summary.get("latency_ms") or {}).items():
        metrics += [(f"latency_ms.{stage}.{stat}", value) for stat, value in stats.items()]
    if summary.get("calibration"):
        metrics.append(("ECE", summary["calibration"].get("ece")))
    return metrics


def headline_table(summary: dict) -> str:
    """Two-column Markdown table of the headline metrics."""
    return markdown_table(["metric", "value"], [[name, value] for name, value in headline_metrics(summary)])


def calibration_section(calibration: dict) -> str:
    """ECE and a few risk-coverage rows, as judged with nothing withheld."""
    by_threshold = {round(point["threshold"], 3): point for point in calibration.get("risk_coverage") or []}
    body = [
        [threshold, point.get("coverage"), point.get("risk")]
        for threshold in CALIBRATION_ROWS
        if (point := by_threshold.get(threshold)) is not None
    ]
    lines = [
        f"ECE: {format_cell(calibration.get('ece'))} (an answer is right when its token F1 is at least "
        f"{format_cell(calibration.get('right_f1'))}; answers with nothing withheld)",
        "",
        "Answering only at confidence >= threshold: coverage is the share of all questions answered, "
        "risk the share of those answers that are wrong.",
        "",
        markdown_table(["threshold", "coverage", "risk"], body),
    ]
    return "\n".join(lines)


def compare_table(compare: Sequence[dict]) -> str:
    """One row per setting, one column per metric seen in any row."""
    columns = ["setting"]
    for row in compare:
        columns += [key for key in row if key not in columns]
    return markdown_table(columns, [[row.get(column) for column in columns] for row in compare])


def markdown_table(header: Sequence[str], body: Sequence[Sequence[Any]]) -> str:
    """A GitHub-flavoured Markdown table."""
    lines = [_table_line(header), _table_line(["---"] * len(header))]
    lines += [_table_line([format_cell(cell) for cell in row]) for row in body]
    return "\n".join(lines)


def _table_line(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def format_cell(value: Any) -> str:
    """Readable, table-safe text for one cell."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:.3f}"
    # A literal pipe or newline would break the table layout.
    return str(value).replace("|", "\\|").replace("\n", " ")


def worst_failures(rows: Sequence[dict], limit: int = N_WORST) -> str:
    """Incorrect rows, confidently wrong first, as Markdown sections."""
    failures = sorted(
        (row for row in rows if not row.get("correct")),
        key=lambda row: row.get("confidence") or 0.0,
        reverse=True,
    )[:limit]
    if not failures:
        return "No failures."
    return "\n\n".join(_failure_entry(rank, row) for rank, row in enumerate(failures, start=1))


def _failure_entry(rank: int, row: dict) -> str:
    expected = " / ".join(f"`{answer}`" for answer in row.get("gold_answers") or []) or "unanswerable"
    given = "abstained" if row.get("abstained") else f"`{row.get('answer')}`"
    quote = row.get("top_quote")
    cited = f"\"{_one_line(quote)}\" ({row.get('top_doc')})" if quote else "none"
    return "\n".join(
        [
            f"### {rank}. {_one_line(row.get('question', ''))}",
            "",
            f"- id: {row.get('id')}",
            f"- expected: {expected}",
            f"- given: {given}",
            f"- confidence: {format_cell(float(row.get('confidence') or 0.0))}",
            f"- cited quote: {cited}",
        ]
    )


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


# --- plots ---------------------------------------------------------------------------


def write_plots(out_dir: Path, summary: dict, rows: Sequence[dict], compare: list[dict] | None) -> None:
    """recall_at_k.png, latency.png, confidence.png and, given a calibration summary, calibration.png."""
    import matplotlib

    # Headless: reports are written from the CLI and from tests without a display.
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plots = [
        ("recall_at_k.png", lambda fig: _draw_recall_at_k(fig, summary, compare)),
        ("latency.png", lambda fig: _draw_latency(fig, rows)),
        ("confidence.png", lambda fig: _draw_confidence(fig, summary, rows)),
    ]
    if summary.get("calibration"):
        plots.append(("calibration.png", lambda fig: _draw_calibration(fig, summary["calibration"])))
    for name, draw in plots:
        fig = plt.figure(figsize=(10, 4) if name in ("confidence.png", "calibration.png") else (6, 4))
        try:
            draw(fig)
            fig.tight_layout()
            fig.savefig(out_dir / name, dpi=100)
        finally:
            plt.close(fig)


def recall_points(metrics: dict) -> tuple[list[int], list[float]]:
    """(k, recall@k) pairs found in a metrics dict, sorted by k."""
    points = sorted(
        (int(key.split("@", 1)[1]), float(value))
        for key, value in metrics.items()
        if key.startswith("recall@") and key.split("@", 1)[1].isdigit() and value is not None
    )
    return [k for k, _ in points], [value for _, value in points]


def _draw_recall_at_k(fig, summary: dict, compare: list[dict] | None) -> None:
    ax = fig.add_subplot(1, 1, 1)
    series = [("this run", recall_points(summary.get("retrieval") or {}))]
    series += [(str(row.get("setting")), recall_points(row)) for row in compare or []]
    drawn = [(label, ks, values) for label, (ks, values) in series if ks]
    for label, ks, values in drawn:
        ax.plot(ks, values, marker="o", label=label)
    if drawn:
        ax.legend()
    else:
        _no_data(ax)
    ax.set_title("Document recall@k")
    ax.set_xlabel("k (retrieved passages)")
    ax.set_ylabel("recall@k")
    ax.set_ylim(0, 1.05)


def _draw_latency(fig, rows: Sequence[dict]) -> None:
    ax = fig.add_subplot(1, 1, 1)
    latencies = [float(row["latency_total_ms"]) for row in rows if row.get("latency_total_ms") is not None]
    if latencies:
        ax.hist(latencies, bins=min(30, max(5, len(latencies) // 2)), color="tab:blue")
    else:
        _no_data(ax)
    ax.set_title("Per-question total latency")
    ax.set_xlabel("total latency (ms)")
    ax.set_ylabel("questions")


def _draw_confidence(fig, summary: dict, rows: Sequence[dict]) -> None:
    hist_ax = fig.add_subplot(1, 2, 1)
    bins = [step / 20 for step in range(21)]
    for label, want_correct, color in (("correct", True, "tab:green"), ("incorrect", False, "tab:red")):
        confidences = [float(row.get("confidence") or 0.0) for row in rows if bool(row.get("correct")) == want_correct]
        if confidences:
            hist_ax.hist(confidences, bins=bins, alpha=0.6, label=label, color=color)
    if rows:
        hist_ax.legend()
    else:
        _no_data(hist_ax)
    hist_ax.set_title("Confidence by outcome")
    hist_ax.set_xlabel("confidence")
    hist_ax.set_ylabel("questions")

    curve_ax = fig.add_subplot(1, 2, 2)
    curve = summary.get("curve") or []
    if curve:
        thresholds = [point["threshold"] for point in curve]
        for key, label in (("answered_rate", "answered (all questions)"), ("wrong_rate", "wrong (of answered)")):
            curve_ax.plot(thresholds, [_nan_if_none(point.get(key)) for point in curve], marker=".", label=label)
        curve_ax.legend()
    else:
        _no_data(curve_ax)
    curve_ax.set_title("Abstention threshold trade-off")
    curve_ax.set_xlabel("confidence threshold")
    curve_ax.set_ylabel("rate")
    curve_ax.set_ylim(0, 1.05)


def _draw_calibration(fig, calibration: dict) -> None:
    diagram_ax = fig.add_subplot(1, 2, 1)
    filled = [b for b in calibration.get("bins") or [] if b.get("count")]
    diagram_ax.plot([0, 1], [0, 1], linestyle="--", color="gray", label="perfectly calibrated")
    if filled:
        diagram_ax.bar([(b["lo"] + b["hi"]) / 2 for b in filled], [b["accuracy"] for b in filled],
                       width=[b["hi"] - b["lo"] for b in filled], alpha=0.3, edgecolor="tab:blue",
                       label="accuracy per bin")
        diagram_ax.plot([b["confidence"] for b in filled], [b["accuracy"] for b in filled],
                        marker="o", color="tab:blue", label="mean confidence vs accuracy")
        for b in filled:
            diagram_ax.annotate(str(b["count"]), ((b["lo"] + b["hi"]) / 2, b["accuracy"]),
                                ha="center", va="bottom", fontsize=7)
        diagram_ax.legend(loc="upper left", fontsize=8)
    else:
        _no_data(diagram_ax)
    ece = calibration.get("ece")
    diagram_ax.set_title(f"Reliability (ECE {'n/a' if ece is None else f'{ece:.3f}'})")
    diagram_ax.set_xlabel("confidence")
    diagram_ax.set_ylabel("accuracy (answer right)")
    diagram_ax.set_xlim(0, 1)
    diagram_ax.set_ylim(0, 1.05)

    risk_ax = fig.add_subplot(1, 2, 2)
    points = calibration.get("risk_coverage") or []
    if points:
        risk_ax.plot([_nan_if_none(p.get("coverage")) for p in points], [_nan_if_none(p.get("risk")) for p in points],
                     marker=".")
    else:
        _no_data(risk_ax)
    risk_ax.set_title("Risk-coverage")
    risk_ax.set_xlabel("coverage (share of questions answered)")
    risk_ax.set_ylabel("risk (share of answers wrong)")
    risk_ax.set_xlim(0, 1.05)
    risk_ax.set_ylim(0, 1.05)


def _nan_if_none(value: float | None) -> float:
    # matplotlib leaves a gap at NaN, which is the honest picture of an undefined rate.
    return math.nan if value is None else float(value)


def _no_data(ax) -> None:
    ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
