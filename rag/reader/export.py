"""The trained reader as an int8 ONNX file: export from PyTorch, drop the softmax NaN guards
(``rag/onnx_checkpoint.py``), quantize per channel with onnxruntime."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from rag.onnx_checkpoint import drop_softmax_nan_guards_in_file


def export_fp32(model: Any, path: Path) -> int:
    """fp32 ONNX of a transformers QA model at ``path``; returns the softmax NaN guards dropped."""
    import torch

    model.eval()

    class Logits(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids):
            output = self.inner(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
            return output.start_logits, output.end_logits

    example = tuple(torch.ones((1, 16), dtype=torch.long) for _ in range(3))
    axes = {0: "batch", 1: "tokens"}
    torch.onnx.export(
        Logits(model), example, str(path), input_names=["input_ids", "attention_mask", "token_type_ids"],
        output_names=["start_logits", "end_logits"],
        dynamic_axes={name: axes for name in ("input_ids", "attention_mask", "token_type_ids", "start_logits", "end_logits")},
        opset_version=17, dynamo=False,
    )
    return drop_softmax_nan_guards_in_file(path)


def export_int8(model: Any, path: Path) -> int:
    """The int8 checkpoint file at ``path`` (no fp32 copy is kept); returns the guards dropped."""
    # per-channel int8: per-tensor scales lose too much of MiniLM's weights
    from onnxruntime.quantization import QuantType, quantize_dynamic

    fp32_path = path.with_name(f"{path.stem}-fp32.onnx")
    guards = export_fp32(model, fp32_path)
    quantize_dynamic(str(fp32_path), str(path), per_channel=True, weight_type=QuantType.QInt8)
    fp32_path.unlink()
    return guards
