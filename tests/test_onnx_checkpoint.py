"""The ONNX checkpoints: exports lose the softmax NaN guards, outputs stay the same bit for bit."""
from __future__ import annotations

import json
import shutil

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from rag.embedding.model import DEFAULT_MODEL, int8_folder, resolve_model_path
from rag.ingest import SAMPLE_CORPUS
from rag.onnx_checkpoint import drop_softmax_nan_guards, drop_softmax_nan_guards_in_file, open_session
from rag.reader.features import WindowSettings, encode, load_tokenizer
from rag.reader.model import DEFAULT_CHECKPOINT

SHIPPED = {"reader": (DEFAULT_CHECKPOINT / "reader.onnx", DEFAULT_CHECKPOINT / "reader.json"),
           "embedding": (int8_folder(DEFAULT_MODEL) / "model.onnx", int8_folder(DEFAULT_MODEL) / "model.json")}


def padded_windows() -> dict[str, np.ndarray]:
    """Question + passage windows of the sample articles, of unequal length (so padded)."""
    texts = [p.read_text(encoding="utf-8") for p in sorted(SAMPLE_CORPUS.glob("*.txt"))]
    contexts = [text[at : at + width] for text in texts for at, width in ((0, 900), (400, 150))]
    windows = encode(load_tokenizer(), ["Who met Putin in Moscow?"] * len(contexts), contexts,
                     WindowSettings(max_length=192, stride=64, max_question_tokens=48))
    return windows.model_inputs()


@pytest.fixture(scope="module")
def exported_bert(tmp_path_factory) -> str:
    """all-MiniLM-L6-v2 as ``torch.onnx.export`` writes it (fp32), guards included."""
    import torch
    from transformers import AutoModel

    bert = AutoModel.from_pretrained(str(resolve_model_path(DEFAULT_MODEL)), local_files_only=True).eval()

    class Hidden(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.inner(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state

    path = tmp_path_factory.mktemp("export") / "bert.onnx"
    axes = {0: "batch", 1: "tokens"}
    torch.onnx.export(
        Hidden(bert), tuple(torch.ones((1, 16), dtype=torch.long) for _ in range(3)), str(path),
        input_names=["input_ids", "attention_mask", "token_type_ids"], output_names=["hidden"],
        dynamic_axes={"input_ids": axes, "attention_mask": axes, "token_type_ids": axes, "hidden": axes},
        opset_version=17, dynamo=False,
    )
    return str(path)


def test_an_export_runs_the_same_without_its_guards(exported_bert, tmp_path):
    edited = tmp_path / "edited.onnx"
    shutil.copy(exported_bert, edited)
    assert drop_softmax_nan_guards_in_file(edited) == 6, "one guard per attention layer"
    assert not any(node.op_type == "IsNaN" for node in onnx.load(str(edited)).graph.node)
    feed = padded_windows()
    assert (feed["attention_mask"] == 0).any(), "the batch holds padding"
    before = open_session(exported_bert, threads=2).run(None, feed)[0]
    after = open_session(edited, threads=2).run(None, feed)[0]
    np.testing.assert_array_equal(before, after)
    assert drop_softmax_nan_guards_in_file(edited) == 0, "a second pass finds nothing"


def test_rag_train_reader_exports_int8_without_guards(tmp_path):
    from transformers import AutoModelForQuestionAnswering

    from rag.reader.export import export_int8

    model = AutoModelForQuestionAnswering.from_pretrained(str(resolve_model_path(DEFAULT_MODEL)), local_files_only=True)
    path = tmp_path / "reader.onnx"
    assert export_int8(model, path) == 6
    assert [p.name for p in tmp_path.iterdir()] == ["reader.onnx"], "the fp32 copy is not kept"
    ops = {node.op_type for node in onnx.load(str(path)).graph.node}
    assert "IsNaN" not in ops and "MatMulInteger" in ops
    start, end = open_session(path, threads=2).run(["start_logits", "end_logits"], padded_windows())
    assert start.shape == end.shape and np.isfinite(start).all()


@pytest.mark.parametrize("name", SHIPPED)
def test_the_shipped_checkpoints_carry_no_guards(name):
    model_path, metadata_path = SHIPPED[name]
    model = onnx.load(str(model_path))
    assert sum(node.op_type == "Softmax" for node in model.graph.node) == 6
    assert drop_softmax_nan_guards(model) == 0
    assert json.loads(metadata_path.read_text(encoding="utf-8"))["softmax_nan_guards_removed"] == 6


def test_a_nan_check_that_does_not_guard_a_softmax_stays(tmp_path):
    # Where(IsNaN(x), 0, x) on a plain input: here NaN is data, not a fully masked softmax row
    nodes = [
        helper.make_node("IsNaN", ["x"], ["is_nan"]),
        helper.make_node("Constant", [], ["zero"], value=helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0])),
        helper.make_node("Where", ["is_nan", "zero", "x"], ["y"]),
    ]
    graph = helper.make_graph(nodes, "nan_to_zero", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    assert drop_softmax_nan_guards(model) == 0
    onnx.save(model, str(tmp_path / "nan_to_zero.onnx"))
    session = open_session(tmp_path / "nan_to_zero.onnx", threads=1)
    assert session.run(None, {"x": np.array([np.nan, 2.0], dtype=np.float32)})[0].tolist() == [0.0, 2.0]
