"""Question + context → the token windows the reader reads, with character offsets back.

Training and inference cut windows the same way: ``[CLS] question [SEP] context [SEP]``, the
context split into overlapping windows when it is longer than ``max_length``. Every context
token keeps its character range in the context, so a predicted span is copied verbatim.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from rag.embedding import load_tokenizer  # noqa: F401  (the reader reads with the embedder's tokenizer)


@dataclass(frozen=True)
class WindowSettings:
    """How question and context are packed into one sequence (recorded in the checkpoint)."""

    # question + context word pieces: a chunk holds at most 160, so with a question it mostly
    # fits one window (160 split most chunks in two, padded windows that slowed every answer)
    max_length: int = 192
    stride: int = 64  # context tokens shared by consecutive windows of one long context
    max_question_tokens: int = 48


@dataclass
class Windows:
    """A batch of encoded windows.

    ``context_of[i]`` is the index of the context window ``i`` came from; ``offsets[i, t]`` the
    character range of token ``t`` in that context, (-1, -1) for question and special tokens.
    """

    input_ids: np.ndarray  # (n, length) int64
    attention_mask: np.ndarray
    token_type_ids: np.ndarray
    offsets: np.ndarray  # (n, length, 2) int64
    context_of: np.ndarray  # (n,) int64

    def __len__(self) -> int:
        return len(self.context_of)

    def model_inputs(self, rows: Sequence[int] | slice = slice(None)) -> dict[str, np.ndarray]:
        return {
            "input_ids": self.input_ids[rows], "attention_mask": self.attention_mask[rows],
            "token_type_ids": self.token_type_ids[rows],
        }


def encode(
    tokenizer: Any, questions: Sequence[str], contexts: Sequence[str], settings: WindowSettings
) -> Windows:
    """Windows for each (question, context) pair, padded to the longest window of the batch."""
    questions = [_clip_question(tokenizer, q, settings.max_question_tokens) for q in questions]
    encoded = tokenizer(
        list(questions), list(contexts), truncation="only_second", max_length=settings.max_length,
        stride=settings.stride, return_overflowing_tokens=True, return_offsets_mapping=True,
        padding="longest", return_tensors="np",
    )
    offsets = np.array(encoded["offset_mapping"], dtype=np.int64)
    for row in range(len(offsets)):
        # only context tokens map back to the context; question and special tokens do not
        sequence_ids = encoded.sequence_ids(row)
        for t, sid in enumerate(sequence_ids):
            if sid != 1:
                offsets[row, t] = (-1, -1)
    return Windows(
        input_ids=encoded["input_ids"].astype(np.int64),
        attention_mask=encoded["attention_mask"].astype(np.int64),
        token_type_ids=encoded["token_type_ids"].astype(np.int64),
        offsets=offsets,
        context_of=np.asarray(encoded["overflow_to_sample_mapping"], dtype=np.int64),
    )


def coverage(windows: Windows, contexts: Sequence[str]) -> float:
    """The share of the contexts' text (up to each one's last non-space character) that their
    windows read to the end of: 1.0 unless a tokenizer cuts overflow windows short."""
    reach = np.zeros(len(contexts), dtype=np.int64)
    np.maximum.at(reach, windows.context_of, windows.offsets[:, :, 1].max(axis=1))
    lengths = np.array([len(context.rstrip()) for context in contexts], dtype=np.int64)
    return float(np.minimum(reach, lengths).sum() / max(1, lengths.sum()))


def _clip_question(tokenizer: Any, question: str, max_tokens: int) -> str:
    """A question cut to its first ``max_tokens`` word pieces (a long follow-up keeps its start)."""
    encoded = tokenizer(question, add_special_tokens=False, return_offsets_mapping=True)
    if len(encoded["input_ids"]) <= max_tokens:
        return question
    return question[: encoded["offset_mapping"][max_tokens - 1][1]]


def answer_positions(windows: Windows, starts: Sequence[int | None], ends: Sequence[int | None]) -> np.ndarray:
    """Target (start, end) token of each window: the answer's tokens when the window holds the
    whole answer (character range ``[start, end)`` of its context), else (0, 0), the [CLS] token
    that stands for "no answer here"."""
    targets = np.zeros((len(windows), 2), dtype=np.int64)
    for row, context in enumerate(windows.context_of):
        start, end = starts[context], ends[context]
        if start is None:
            continue
        offsets = windows.offsets[row]
        inside = np.nonzero(offsets[:, 0] >= 0)[0]
        if not len(inside) or offsets[inside[0], 0] > start or offsets[inside[-1], 1] < end:
            continue
        first = inside[offsets[inside, 1] > start][0]
        last = inside[offsets[inside, 0] < end][-1]
        targets[row] = (first, last)
    return targets


def checkpoint_files(folder: Path) -> tuple[Path, Path]:
    """The model file and the metadata file of a reader checkpoint folder."""
    return folder / "reader.onnx", folder / "reader.json"
