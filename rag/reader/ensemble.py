"""Several trained readers as one: an ONNX graph that averages their start and end logits.

Readers trained from the same base model with other seeds or data make different mistakes;
the mean of their logits is a better reader than either (an ensemble). The members read the
same windows (same tokenizer and window settings), so the mean is taken token by token, and
the no-answer score ([CLS] start + end) is averaged with the rest. The result is one ONNX file
with the usual inputs and outputs, so ``rag.reader.model.Reader`` runs it unchanged; it costs
the sum of the members' time.

    python -m rag.reader.ensemble CHECKPOINT CHECKPOINT [...] --out FOLDER
"""
from __future__ import annotations

import argparse
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

from rag.onnx_checkpoint import file_sha256
from rag.reader.features import checkpoint_files

INPUTS = ("input_ids", "attention_mask", "token_type_ids")
OUTPUTS = ("start_logits", "end_logits")


class EnsembleError(ValueError):
    """The checkpoints cannot be averaged (different windows or base models)."""


def merge_graphs(models: Sequence[Any]) -> Any:
    """One ``onnx.ModelProto`` whose outputs are the mean of ``models``' outputs; each model
    reads the shared inputs under its own name prefix."""
    import onnx
    from onnx import compose, helper

    if len(models) < 2:
        raise EnsembleError("an ensemble needs at least two readers")
    nodes, initializers, value_info = [], [], []
    for i, model in enumerate(models):
        prefixed = compose.add_prefix(model, prefix=f"m{i}/")
        graph = prefixed.graph
        nodes += [helper.make_node("Identity", [name], [f"m{i}/{name}"]) for name in INPUTS]
        nodes += list(graph.node)
        initializers += list(graph.initializer)
        value_info += list(graph.value_info)
    for name in OUTPUTS:
        nodes.append(helper.make_node("Mean", [f"m{i}/{name}" for i in range(len(models))], [name]))
    first = models[0].graph
    graph = helper.make_graph(nodes, "reader_ensemble", list(first.input), list(first.output),
                              initializer=initializers, value_info=value_info)
    merged = helper.make_model(graph, opset_imports=list(models[0].opset_import))
    merged.ir_version = models[0].ir_version
    onnx.checker.check_model(merged)
    return merged


def merge_checkpoints(folders: Sequence[Path], out: Path) -> dict[str, Any]:
    """Write the ensemble of the reader checkpoints in ``folders`` to ``out`` (model and
    metadata); returns the metadata. The combiner is left out: calibrate the ensemble after
    (``python -m rag.reader.calibrate --checkpoint OUT``)."""
    import onnx

    if len(folders) < 2:
        raise EnsembleError("an ensemble needs at least two readers")
    members = []
    for folder in folders:
        model_path, metadata_path = checkpoint_files(Path(folder))
        if not model_path.is_file() or not metadata_path.is_file():
            raise EnsembleError(f"no reader checkpoint in {folder}")
        members.append((model_path, json.loads(metadata_path.read_text(encoding="utf-8"))))
    first = members[0][1]
    for path, metadata in members[1:]:
        for key in ("windows", "base_model", "max_answer_tokens"):
            if metadata.get(key) != first.get(key):
                raise EnsembleError(f"{path.parent}: its {key} differs from {members[0][0].parent}'s; the readers must read the same windows")
    out.mkdir(parents=True, exist_ok=True)
    model_path, metadata_path = checkpoint_files(out)
    onnx.save(merge_graphs([onnx.load(str(path)) for path, _ in members]), str(model_path))
    metadata = {
        **{key: first[key] for key in ("format", "base_model", "windows", "max_answer_tokens") if key in first},
        "sha256": file_sha256(model_path), "size_bytes": model_path.stat().st_size,
        "softmax_nan_guards_removed": sum(m.get("softmax_nan_guards_removed", 0) for _, m in members),
        "trained_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        # the first member's record, so that tools reading one reader's training keep working
        "training": first["training"],
        "members": [
            {"sha256": m["sha256"], "trained_at": m.get("trained_at", ""), "training": m["training"]}
            for _, m in members
        ],
    }
    metadata_path.write_text(json.dumps(metadata, indent=2), encoding="utf-8")
    return metadata


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rag.reader.ensemble", description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="+", type=Path, metavar="CHECKPOINT")
    parser.add_argument("--out", type=Path, required=True, metavar="FOLDER")
    args = parser.parse_args(argv)
    metadata = merge_checkpoints(args.checkpoints, args.out)
    print(f"{args.out}: {len(metadata['members'])} readers, {metadata['size_bytes'] / 1e6:.1f} MB, sha256 {metadata['sha256'][:12]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
