"""Export a sentence-transformers model to int8 ONNX: ``python -m rag.embedding.export [MODEL]``.

The fp32 model is traced with ``torch.onnx`` (mean pooling and normalization inside the graph,
so the runtime only feeds token ids), then its weights are quantized to int8 *per channel*
with ``onnxruntime.quantization.quantize_dynamic``: per-tensor scales measured cosine 0.88 to
fp32 on news chunks, unusable. The export is checked against fp32 on the bundled sample
articles and refused below ``--min-cosine``; the check is written into ``model.json``.
``optimum`` is deliberately not used: it downgrades transformers and breaks sentence-transformers.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from rag.config import ChunkingConfig, EmbeddingConfig
from rag.embedding.model import DEFAULT_MODEL, Embedder, EmbeddingError, _Int8Model, int8_folder
from rag.onnx_checkpoint import drop_softmax_nan_guards_in_file, file_sha256

OPSET = 17


def _traced_model(reference: Embedder, folder: Path) -> tuple[Path, int, int]:
    """fp32 ONNX of the torch model with pooling; returns its path, max length and dimension."""
    import torch

    fp32 = reference.model.model
    bert = fp32[0].auto_model.eval()

    class Pooled(torch.nn.Module):
        def __init__(self, inner: Any):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids):
            hidden = self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, dim=-1)

    path = folder / "model-fp32.onnx"
    example = tuple(torch.ones((2, 16), dtype=torch.long) for _ in range(3))
    axes = {0: "batch", 1: "tokens"}
    torch.onnx.export(
        Pooled(bert), example, str(path), input_names=["input_ids", "attention_mask", "token_type_ids"],
        output_names=["embedding"],
        dynamic_axes={"input_ids": axes, "attention_mask": axes, "token_type_ids": axes, "embedding": {0: "batch"}},
        opset_version=OPSET, dynamo=False,
    )
    return path, int(fp32.max_seq_length), int(bert.config.hidden_size)


def _sample_chunks(embedder: Embedder) -> list[str]:
    """The chunk texts of the bundled sample articles, as an index embeds them."""
    from rag.chunking import chunk_document
    from rag.ingest import SAMPLE_CORPUS, load_documents

    documents = load_documents([SAMPLE_CORPUS]).documents
    return [f"{d.title}. {c.text}" for d in documents
            for c in chunk_document(d, ChunkingConfig(), embedder.count_tokens)]


def export_int8(model_name: str = DEFAULT_MODEL, out: Path | None = None, min_cosine: float = 0.98) -> dict[str, Any]:
    """Write ``model.onnx`` and ``model.json`` into ``out`` (default: where the backend looks)."""
    from importlib.metadata import version

    from onnxruntime.quantization import QuantType, quantize_dynamic

    out = Path(out) if out else int8_folder(model_name)
    out.mkdir(parents=True, exist_ok=True)
    # the fp32 model is loaded once: traced, then the reference the export is checked against
    reference = Embedder(EmbeddingConfig(model_name=model_name, backend="torch")).warm_up()
    with tempfile.TemporaryDirectory(prefix="rag-export-") as scratch:
        fp32_path, max_length, dimension = _traced_model(reference, Path(scratch))
        guards = drop_softmax_nan_guards_in_file(fp32_path)  # exact for our inputs, and faster
        staged = Path(scratch) / "model.onnx"
        quantize_dynamic(str(fp32_path), str(staged), per_channel=True, weight_type=QuantType.QInt8)
        metadata = {
            "source_model": model_name, "max_length": max_length, "dimension": dimension,
            "sha256": file_sha256(staged), "opset": OPSET,
            "quantization": "onnxruntime quantize_dynamic, int8 weights per channel, dynamic uint8 activations",
            "softmax_nan_guards_removed": guards,
            "versions": {p: version(p) for p in ("torch", "onnxruntime", "sentence-transformers", "transformers")},
        }
        # check the staged files before they replace anything the backend reads
        check_dir = Path(scratch) / "check"
        check_dir.mkdir()
        staged.rename(check_dir / "model.onnx")
        (check_dir / "model.json").write_text(json.dumps(metadata, indent=2), encoding="utf-8")
        texts = _sample_chunks(reference)
        cosines = _cosines_of(reference, check_dir, texts)
        metadata["check"] = {
            "texts": len(texts), "set": "chunks of the bundled sample articles",
            "cosine_min": round(float(cosines.min()), 4), "cosine_mean": round(float(cosines.mean()), 4),
        }
        if cosines.min() < min_cosine:
            raise EmbeddingError(f"int8 export reaches cosine {cosines.min():.3f} < {min_cosine} to fp32; not written")
        (check_dir / "model.onnx").replace(out / "model.onnx")
        (out / "model.json").write_text(json.dumps(metadata, indent=2) + "\n", encoding="utf-8")
    return metadata


def _cosines_of(reference: Embedder, folder: Path, texts: list[str]) -> np.ndarray:
    """Cosine of each text's vector from the export in ``folder`` to its fp32 vector."""
    int8 = _Int8Model(replace(reference.config, backend="onnx-int8"), folder).encode(texts)
    return (int8 * reference.embed_documents(texts)).sum(axis=1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rag.embedding.export", description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", default=DEFAULT_MODEL, help="model name or local folder")
    parser.add_argument("--out", type=Path, help="folder for model.onnx + model.json")
    parser.add_argument("--min-cosine", type=float, default=0.98)
    args = parser.parse_args(argv)
    metadata = export_int8(args.model, args.out, args.min_cosine)
    print(json.dumps(metadata["check"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
