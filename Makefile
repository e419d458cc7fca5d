# Set-up and everyday commands. `make demo` runs the app on the bundled sample corpus;
# `make test` runs the test suite (CI runs it through .ci/run).
VENV ?= .venv
PY := $(VENV)/bin/python
RAG := $(VENV)/bin/rag
PYTHON ?= python3
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install index demo ask test browser bench eval train-reader clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first and pinned: a CPU build from local disk (an unpinned torch pulls a multi-GB CUDA build)
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[test,milvus]'
	touch $@

install: $(VENV)/.installed

index: install
	$(RAG) index

ask: index
	$(RAG) ask "What reward did the US offer for information on Hafiz Saeed?"

demo: ask
	$(RAG) serve

browser:
	bash scripts/install_browser.sh

test: install browser
	$(PY) -m pytest -q

eval: index
	$(RAG) eval --dataset eval/gold/sample.jsonl
	$(RAG) eval --dataset eval/gold/heldout.jsonl

# Retrain the shipped reader (rag/reader/checkpoint) from the public data in ../shared and the
# people's questions in eval/calibration (45 min on 2 cores with VNNI, longer without); see
# docs/reader.md.
BENCHMARKS ?= ../shared/benchmarks
train-reader: install
	$(RAG) train-reader --squad $(BENCHMARKS)/squad2-dev-half/squad2-dev-public.json \
		--corpus $(BENCHMARKS)/bbc-news --split $(BENCHMARKS)/bbc-news-split.json \
		--questions eval/calibration/bbc-train-questions.jsonl --questions-corpus $(BENCHMARKS)/bbc-news \
		--news-questions eval/calibration/bbc-train-questions-2.jsonl --news-corpus $(BENCHMARKS)/bbc-news \
		--news-archive eval/calibration/bbc-train-archive.txt

bench: install
	$(RAG) bench

clean:
	rm -rf $(VENV) index/CURRENT index/gen-* index/.gen-* eval/.cache
