"""Training the reader (rag.reader.train) on a tiny SQuAD 2.0 file: the run, its seed, its checkpoint."""
from __future__ import annotations

import json
import numpy as np
import pytest

from rag.onnx_checkpoint import file_sha256
from rag.reader.model import Reader
from rag.reader.train import TrainingSettings, fit, resolve_device, write_checkpoint

SETTINGS = TrainingSettings(epochs=2, batch_size=2, validation_articles=("Harbours",))


def test_a_run_trains_on_the_training_articles_and_scores_the_held_out_ones(tiny_squad_file):
    fitted = fit(tiny_squad_file, SETTINGS, progress=False)
    assert fitted.counts["squad_train_questions"] == 4 and fitted.device == "cpu"
    assert len(fitted.losses) == 2 * -(-fitted.counts["training_windows"] // 2) and np.isfinite(fitted.losses).all()
    assert [e["epoch"] for e in fitted.epochs] == [1, 2]
    assert {"answerable_f1", "no_answer_accuracy", "all_f1_null_rule"} <= set(fitted.epochs[-1])


def test_the_same_seed_trains_the_same_model(tiny_squad_file):
    first, second = fit(tiny_squad_file, SETTINGS, progress=False), fit(tiny_squad_file, SETTINGS, progress=False)
    assert first.losses == second.losses
    other = fit(tiny_squad_file, TrainingSettings(**{**vars(SETTINGS), "seed": SETTINGS.seed + 1}), progress=False)
    assert other.losses != first.losses


def test_the_checkpoint_is_int8_onnx_that_the_reader_loads_with_its_record(tiny_squad_file, tmp_path):
    fitted = fit(tiny_squad_file, SETTINGS, progress=False)
    metadata = write_checkpoint(fitted, tmp_path, SETTINGS, tiny_squad_file)
    assert metadata["sha256"] == file_sha256(tmp_path / "reader.onnx")
    recorded = json.loads((tmp_path / "reader.json").read_text(encoding="utf-8"))
    assert recorded["training"]["device"] == "cpu" and recorded["training"]["per_epoch"] == fitted.epochs
    assert set(recorded["training"]["int8_validation"]) == set(fitted.epochs[-1]) - {"epoch", "train_loss"}
    assert Reader(tmp_path).warm_up().metadata["sha256"] == metadata["sha256"]


def test_the_device_is_the_gpu_only_when_there_is_one():
    import torch

    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == "cpu"
    with pytest.raises(ValueError, match="must be auto, cpu or cuda"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="sees no GPU"):
            resolve_device("cuda")
