"""The int8 ONNX checkpoints (reader and embedder): a graph edit when they are exported, and the
onnxruntime session that runs them.

``torch.onnx.export`` writes BERT's scaled-dot-product attention with a guard after every
attention softmax that turns NaN into 0 (``Where(IsNaN(p), 0, p)``). NaN appears only in a row
whose every key is masked; our inputs never have one, since every sequence starts with an
unmasked [CLS] token. So the guard returns its input unchanged while costing a pass over a
batch × heads × tokens × tokens tensor per layer: 17 % of the reader's time (6 windows of 192
tokens, 2 cores). Onnxruntime keeps it, so both exports drop it (``drop_softmax_nan_guards``)
before quantizing; the outputs stay the same bit for bit.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def drop_softmax_nan_guards(model: Any) -> int:
    """Remove every ``Where(IsNaN(softmax), c, softmax)`` from an ``onnx.ModelProto`` in place,
    feeding the softmax straight to the guard's consumers; returns how many were removed.

    Exact for inputs in which every sequence attends to at least one token.
    """
    graph = model.graph
    producer = {output: node for node in graph.node for output in node.output}
    graph_outputs = {output.name for output in graph.output}
    replaced: dict[str, str] = {}
    removed: set[int] = set()
    for node in graph.node:
        # a guard that is itself a graph output stays: nothing could take its place
        if node.op_type != "Where" or len(node.input) != 3 or node.output[0] in graph_outputs:
            continue
        condition = producer.get(node.input[0])
        if condition is None or condition.op_type != "IsNaN":
            continue
        guarded = condition.input[0]
        source = producer.get(guarded)
        # only the guard after a softmax, whose non-NaN branch is the softmax itself
        if node.input[2] != guarded or source is None or source.op_type != "Softmax":
            continue
        replaced[node.output[0]] = guarded
        removed.update((id(node), id(condition)))
    if not replaced:
        return 0
    kept = [node for node in graph.node if id(node) not in removed]
    for node in kept:
        for position, name in enumerate(node.input):
            if name in replaced:
                node.input[position] = replaced[name]
    # the guards' fill values (Constant nodes) have no consumer left
    used = {name for node in kept for name in node.input} | graph_outputs
    kept = [node for node in kept if node.op_type != "Constant" or any(o in used for o in node.output)]
    del graph.node[:]
    graph.node.extend(kept)
    return len(replaced)


def drop_softmax_nan_guards_in_file(path: Path) -> int:
    """``drop_softmax_nan_guards`` on the ONNX file at ``path``, rewritten in place when it changes."""
    import onnx

    model = onnx.load(str(path))
    removed = drop_softmax_nan_guards(model)
    if removed:
        onnx.save(model, str(path))
    return removed


def open_session(path: Path, threads: int) -> Any:
    """An onnxruntime CPU session for the ONNX file at ``path``."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # idle workers sleep at once instead of spinning: a pool left spinning (the embedder's, after
    # a question) takes the cores the next session needs (the reader's: 155 → 119 ms a question)
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
