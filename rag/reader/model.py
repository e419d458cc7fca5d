"""The trained reader: an int8 ONNX MiniLM cross-encoder that scores answer spans.

It reads ``[CLS] question [SEP] context`` and gives every token a start and an end score.
A span's score is start + end; the [CLS] token's pair is the "no answer here" score. The
checkpoint (``rag/reader/checkpoint/``) is trained by ``rag train-reader``; its metadata holds
the window settings, the training settings and the fitted confidence model.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from rag.onnx_checkpoint import file_sha256, open_session
from rag.reader.features import WindowSettings, Windows, checkpoint_files, encode, load_tokenizer

DEFAULT_CHECKPOINT = Path(__file__).parent / "checkpoint"


class ReaderError(RuntimeError):
    """The reader checkpoint is missing or unreadable."""


@dataclass(frozen=True)
class SpanScore:
    """One candidate answer span of one context, as the reader scored it.

    ``start``/``end`` are character offsets into the context; ``score`` is the span's start +
    end logit and ``null_score`` the no-answer logit pair of the same window.
    """

    context: int
    start: int
    end: int
    score: float
    null_score: float

    @property
    def margin(self) -> float:
        """How much the span beats "no answer here" in its window."""
        return self.score - self.null_score


def decode_spans(
    start_logits: np.ndarray, end_logits: np.ndarray, windows: Windows, *,
    top_n: int = 5, max_answer_tokens: int = 30,
) -> list[SpanScore]:
    """The ``top_n`` best spans of every window (best first per window)."""
    found: list[SpanScore] = []
    for row in range(len(windows)):
        valid = np.nonzero(windows.offsets[row, :, 0] >= 0)[0]
        if not len(valid):
            continue
        starts, ends = start_logits[row], end_logits[row]
        null = float(starts[0] + ends[0])
        best_starts = valid[np.argsort(-starts[valid])[:20]]
        best_ends = valid[np.argsort(-ends[valid])[:20]]
        pairs = [
            (float(starts[s] + ends[e]), int(s), int(e))
            for s in best_starts for e in best_ends if 0 <= e - s < max_answer_tokens
        ]
        pairs.sort(reverse=True)
        offsets = windows.offsets[row]
        for score, s, e in pairs[:top_n]:
            found.append(SpanScore(int(windows.context_of[row]), int(offsets[s, 0]), int(offsets[e, 1]), score, null))
    return found


class Reader:
    """Scores answer spans for a question over several contexts.

    Example:
        >>> reader = Reader().warm_up()
        >>> spans = reader.read("Who met Putin?", ["Imran Khan met Vladimir Putin in Moscow."])
        >>> text = "Imran Khan met Vladimir Putin in Moscow."[spans[0].start:spans[0].end]

    The constructor only reads the metadata; ``warm_up`` loads the model once.
    """

    def __init__(self, checkpoint: Path | str | None = None, threads: int | None = None):
        self.folder = Path(checkpoint) if checkpoint else DEFAULT_CHECKPOINT
        self.model_path, metadata_path = checkpoint_files(self.folder)
        if not self.model_path.is_file() or not metadata_path.is_file():
            raise ReaderError(
                f"no reader checkpoint in {self.folder}: train one with `rag train-reader --out {self.folder}`"
            )
        self.metadata: dict[str, Any] = json.loads(metadata_path.read_text(encoding="utf-8"))
        self.settings = WindowSettings(**self.metadata["windows"])
        self.threads = threads or min(4, os.cpu_count() or 1)
        self._session: Any = None
        self._tokenizer: Any = None

    def warm_up(self) -> "Reader":
        if self._session is None:
            if file_sha256(self.model_path) != self.metadata["sha256"]:
                raise ReaderError(f"{self.model_path} does not match the sha256 in its metadata")
            self._session = open_session(self.model_path, self.threads)
            self._tokenizer = load_tokenizer(self.metadata.get("base_model") or "sentence-transformers/all-MiniLM-L6-v2")
        return self

    @property
    def sha256(self) -> str:
        return self.metadata["sha256"]

    def logits(self, windows: Windows) -> tuple[np.ndarray, np.ndarray]:
        """Start and end logits of every token of every window."""
        self.warm_up()
        start, end = self._session.run(["start_logits", "end_logits"], windows.model_inputs())
        return start, end

    def read(self, question: str, contexts: Sequence[str], top_n: int = 5) -> list[SpanScore]:
        """The best spans of each context for ``question``; offsets point into the context."""
        if not contexts:
            return []
        self.warm_up()
        windows = encode(self._tokenizer, [question] * len(contexts), list(contexts), self.settings)
        start, end = self.logits(windows)
        return decode_spans(start, end, windows, top_n=top_n,
                            max_answer_tokens=self.metadata.get("max_answer_tokens", 30))
