"""Train several reader recipes in one go and rank them on archive questions none of them read.

    python eval/sweep_reader.py --plan eval/sweeps/gpu-2026-12-04.json \
        --squad ../shared/benchmarks/squad2-dev-half/squad2-dev-public.json \
        --synthetic eval/.cache/synthetic-bbc-news-13-g4.jsonl \
        --questions eval/calibration/bbc-train-questions.jsonl --questions-corpus ../shared/benchmarks/bbc-news \
        --proxy eval/calibration/bbc-train-questions-4.jsonl --budget 400 --export 2 --out /tmp/sweep

Made for a lent GPU, where one run of the shipped recipe takes well under a minute (on the
2-core CPU it takes ~40 minutes: there, train one recipe with `rag train-reader`). The plan is a
JSON list of runs in priority order, each a name, a recipe (its settings that differ from
`TrainingSettings`' defaults) and a seed. The runs go in order while the time budget lasts
(each run's length is foreseen from the throughput measured so far). Every trained model reads
the ``--proxy`` questions over the whole text of their articles, as an archive does; the score
is all-question F1 at the best single margin threshold (a threshold-free measure of both span
quality and "not in this article"), with the best span's F1 on the answerable ones beside it.
A recipe's rank is the mean score of its seeds; the best run of each of the ``--export`` best
recipes is written as an int8 checkpoint (``rag train-reader``'s format) for the full pipeline
test (`rag eval` on news, `python -m rag.reader.calibrate`).

Writes ``sweep.json`` (every run: settings, per-epoch SQuAD scores, proxy scores, seconds)
after each run, so a stopped sweep still reports what it finished.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np

from rag.embedding import DEFAULT_MODEL
from rag.gold import read_questions
from rag.metrics import token_f1
from rag.reader.data import ReaderExample, question_examples, read_examples
from rag.reader.features import load_tokenizer
from rag.reader.train import TrainingSettings, featurize, fit, resolve_device, torch_logits, write_checkpoint
from rag.reader.validation import predict


def read_plan(path: Path) -> list[dict[str, Any]]:
    """The runs in order: name ``RECIPE-SEED``, recipe name, ``TrainingSettings``. A plan is
    ``{"recipes": {NAME: {SETTING: VALUE, ...}}, "runs": [[NAME, SEED], ...]}``."""
    plan = json.loads(Path(path).read_text(encoding="utf-8"))
    known = set(TrainingSettings.__dataclass_fields__) - {"windows", "seed"}
    for name, recipe in plan["recipes"].items():
        if set(recipe) - known:
            raise ValueError(f"{path}: recipe {name!r} sets unknown training settings {sorted(set(recipe) - known)}")
    runs = []
    for recipe, seed in plan["runs"]:
        if recipe not in plan["recipes"]:
            raise ValueError(f"{path}: a run names no recipe: {recipe!r}")
        settings = replace(TrainingSettings(), seed=seed, **plan["recipes"][recipe])
        runs.append({"name": f"{recipe}-{seed}", "recipe": recipe, "settings": settings})
    names = [run["name"] for run in runs]
    if len(set(names)) != len(names):
        raise ValueError(f"{path}: a recipe and seed repeat")
    return runs


def proxy_scores(model: Any, device: str, examples: list[ReaderExample], golds: dict[str, list[str]],
                 settings: TrainingSettings, tokenizer: Any) -> dict[str, float]:
    """All-question F1 at the best margin threshold, and the best span's F1 on answerable ones."""
    windows, _ = featurize(tokenizer, examples, settings.windows)
    model.to(device).eval()
    predictions = predict(torch_logits(model, device), windows, examples, settings.max_answer_tokens, batch_size=128)
    model.to("cpu")
    f1 = np.array([token_f1(text, golds[e.qid]) if e.answerable else 0.0 for e, (text, _) in zip(examples, predictions)])
    answerable = np.array([e.answerable for e in examples])
    margins = np.array([margin for _, margin in predictions])
    best = 0.0
    for threshold in np.unique(np.concatenate([[-np.inf], margins])):
        answered = margins > threshold
        score = np.where(answerable, np.where(answered, f1, 0.0), (~answered).astype(float)).mean()
        best = max(best, float(score))
    return {"all_f1_best_threshold": round(best, 4), "answerable_best_span_f1": round(float(f1[answerable].mean()), 4)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plan", type=Path, required=True)
    parser.add_argument("--squad", type=Path, required=True)
    parser.add_argument("--synthetic", type=Path, required=True, help="generated questions (rag.reader.synth output)")
    parser.add_argument("--questions", type=Path, nargs="*", default=[], help="people's questions to train on")
    parser.add_argument("--questions-corpus", type=Path, required=True, help="the articles of --questions and --proxy")
    parser.add_argument("--proxy", type=Path, required=True,
                        help="people's questions to rank the runs on (never trained on)")
    parser.add_argument("--budget", type=float, default=400.0,
                        help="seconds of training; runs that would overrun are skipped")
    parser.add_argument("--export", type=int, default=1,
                        help="recipes to write a checkpoint of (the best run of each of the best)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)

    started = time.time()
    runs = read_plan(args.plan)
    if args.proxy.resolve() in {path.resolve() for path in args.questions}:
        raise ValueError("--proxy must be questions the runs do not train on")
    device = resolve_device(args.device)
    synthetic = read_examples(args.synthetic)
    people = [example for path in args.questions for example in question_examples(path, args.questions_corpus)]
    proxy = question_examples(args.proxy, args.questions_corpus)
    proxy_golds = {f"people-{gold['id']}": gold["answers"] for gold in read_questions(args.proxy, gold=True)}
    tokenizer = load_tokenizer(DEFAULT_MODEL)
    args.out.mkdir(parents=True, exist_ok=True)

    results: list[dict[str, Any]] = []
    models: dict[str, Any] = {}
    rate = windows_per_epoch = None  # training windows per second, and per epoch, as measured
    for run in runs:
        settings = run["settings"]
        elapsed = time.time() - started
        if rate is not None:
            foreseen = windows_per_epoch * settings.epochs / rate + 20  # 20 s: featurizing, scoring
            if elapsed + foreseen > args.budget:
                results.append({"name": run["name"], "skipped": f"foreseen {foreseen:.0f} s, {elapsed:.0f} s spent"})
                continue
        fitted = fit(args.squad, settings, synthetic, people, device, progress=False)
        seconds = time.time() - fitted.started
        windows_per_epoch = fitted.counts["training_windows"]
        rate = windows_per_epoch * settings.epochs / max(seconds, 1e-6)
        scores = proxy_scores(fitted.model, device, proxy, proxy_golds, settings, tokenizer)
        models[run["name"]] = fitted
        results.append({"name": run["name"], "recipe": run["recipe"], "seed": settings.seed,
                        "settings": {k: v for k, v in asdict(settings).items() if k != "windows"},
                        "per_epoch": fitted.epochs, "proxy": scores, "seconds": round(seconds, 1), **fitted.counts})
        print(json.dumps(results[-1]), flush=True)
        (args.out / "sweep.json").write_text(json.dumps({"device": device, "runs": results}, indent=2), encoding="utf-8")

    done = [r for r in results if "proxy" in r]
    by_recipe: dict[str, list[dict[str, Any]]] = {}
    for r in done:
        by_recipe.setdefault(r["recipe"], []).append(r)
    ranking = sorted(by_recipe, key=lambda name: -np.mean([r["proxy"]["all_f1_best_threshold"] for r in by_recipe[name]]))
    exported = []
    for recipe in ranking[: args.export]:
        name = max(by_recipe[recipe], key=lambda r: r["proxy"]["all_f1_best_threshold"])["name"]
        run = next(r for r in runs if r["name"] == name)
        try:
            metadata = write_checkpoint(models[name], args.out / name, run["settings"], args.squad, args.questions)
            print(f"exported {name}: int8 {metadata['training']['int8_validation']}", flush=True)
        except Exception as error:  # e.g. a PyTorch without the TorchScript exporter: keep the trained weights
            import torch

            weights = models[name].model.state_dict()
            torch.save({k: v.half() if v.is_floating_point() else v for k, v in weights.items()}, args.out / f"{name}.pt")
            print(f"export of {name} failed ({error!r}); its weights are in {name}.pt (fp16)", flush=True)
        exported.append(name)
    summary = {"device": device, "ranking": [{"recipe": name, "proxy_mean": round(float(np.mean(
        [r["proxy"]["all_f1_best_threshold"] for r in by_recipe[name]])), 4), "runs": len(by_recipe[name])}
        for name in ranking], "exported": exported, "runs": results, "seconds": round(time.time() - started, 1)}
    (args.out / "sweep.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    print(json.dumps(summary["ranking"], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
