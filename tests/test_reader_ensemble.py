"""Readers averaged into one ONNX graph (rag.reader.ensemble), on the real shipped checkpoint."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from rag.onnx_checkpoint import file_sha256
from rag.reader.ensemble import EnsembleError, merge_checkpoints
from rag.reader.features import encode
from rag.reader.model import DEFAULT_CHECKPOINT, Reader

QUESTIONS = ["Who is the new captain of the ferry?", "How much does a ticket cost?"]
CONTEXTS = [
    "The Kelbrook ferry named Marta Lindqvist its new captain in March after twenty years at sea.",
    "Tickets now cost £14 for adults because fuel prices rose sharply last winter.",
]


def test_the_ensemble_reads_the_mean_of_its_members_logits(tmp_path):
    # a reader averaged with itself must give exactly its own logits: the graph wiring is right
    merged = merge_checkpoints([DEFAULT_CHECKPOINT, DEFAULT_CHECKPOINT], tmp_path / "ensemble")
    single, ensemble = Reader(DEFAULT_CHECKPOINT).warm_up(), Reader(tmp_path / "ensemble").warm_up()
    windows = encode(single._tokenizer, QUESTIONS, CONTEXTS, single.settings)
    for alone, averaged in zip(single.logits(windows), ensemble.logits(windows)):
        np.testing.assert_allclose(averaged, alone, atol=1e-5)
    assert merged["sha256"] == file_sha256(tmp_path / "ensemble" / "reader.onnx")
    assert [m["sha256"] for m in merged["members"]] == [single.sha256] * 2
    assert ensemble.read(QUESTIONS[0], CONTEXTS[:1])[0].start == CONTEXTS[0].index("Marta")


def test_readers_that_cut_windows_differently_are_refused(tmp_path):
    other = tmp_path / "other"
    shutil.copytree(DEFAULT_CHECKPOINT, other)
    metadata = json.loads((other / "reader.json").read_text())
    metadata["windows"]["max_length"] += 64
    (other / "reader.json").write_text(json.dumps(metadata))
    with pytest.raises(EnsembleError, match="windows differs"):
        merge_checkpoints([DEFAULT_CHECKPOINT, other], tmp_path / "ensemble")
    with pytest.raises(EnsembleError, match="at least two"):
        merge_checkpoints([DEFAULT_CHECKPOINT], tmp_path / "ensemble")
    assert not (tmp_path / "ensemble" / "reader.onnx").exists()
