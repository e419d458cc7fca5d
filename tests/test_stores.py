"""The chunk stores behind the seam: what the Milvus store records, keeps and refuses.

(Retrieval and answer behaviour is asked of both stores in test_retrieval.py and test_answer.py.)
Milvus runs as Milvus Lite in a temporary folder.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import big_corpus, store_config
from rag.config import Config, StoreConfig
from rag.ingest import SAMPLE_CORPUS, load_documents
from rag.retrieval import Retriever
from rag.store import CURRENT_FILE, Index, IndexLoadError, build_index, read_manifest
from rag.stores import SearchFilter, StoreError
from rag.stores.milvus import _client, filter_expression, index_key

QUESTION = "What reward did the US offer for information on Hafiz Saeed?"


def collections_of(uri: str, index_dir: Path) -> list[str]:
    client = _client(uri)
    try:
        return sorted(c for c in client.list_collections() if c.startswith(f"rag_{index_key(index_dir)}_"))
    finally:
        client.close()


@pytest.fixture()
def milvus_index(tmp_path, embedder, sample_documents) -> tuple[Path, Config]:
    config = store_config("milvus", tmp_path)
    build_index(sample_documents, tmp_path / "index", embedder, config)
    return tmp_path / "index", config


def test_the_manifest_records_the_collection_and_its_schema(milvus_index):
    index_dir, config = milvus_index
    recorded = read_manifest(index_dir)["store"]
    assert recorded["kind"] == "milvus" and recorded["uri"] == config.store.milvus_uri
    assert recorded["fields"] == ["row", "doc_id", "date", "terms", "vector", "sparse"]
    assert recorded["vectors"]["type"] == "flat"  # 34 chunks: exact, like the embedded store
    assert collections_of(recorded["uri"], index_dir) == [recorded["collection"]]
    index = Index.open(index_dir)
    assert index.store.count() == index.chunk_count == read_manifest(index_dir)["counts"]["chunks"]
    index.close()


def test_updates_replace_changed_documents_and_drop_removed_ones(milvus_index, embedder, sample_documents, tmp_path):
    index_dir, config = milvus_index
    first = read_manifest(index_dir)["store"]["collection"]
    kept = [d for d in sample_documents if d.id != "004_c0bc88ef037bc82c.txt"]
    report = build_index(kept, index_dir, embedder, config)
    assert report.removed == ["004_c0bc88ef037bc82c.txt"] and report.chunks_embedded == 0
    recorded = read_manifest(index_dir)["store"]
    assert recorded["collection"] != first
    # the replaced collection stays for readers that opened it before the swap, until the next build
    assert collections_of(recorded["uri"], index_dir) == sorted([first, recorded["collection"]])
    build_index(kept[:3], index_dir, embedder, config)
    latest = read_manifest(index_dir)["store"]["collection"]
    assert collections_of(recorded["uri"], index_dir) == sorted([recorded["collection"], latest])
    index = Index.open(index_dir)
    passages = Retriever(index, embedder).search(QUESTION, k=5)
    assert passages and "004_c0bc88ef037bc82c.txt" not in {p.doc_id for p in passages}
    # vectors reused from Milvus are the ones the first build stored
    assert index.store.vectors().shape == (index.chunk_count, 384)
    index.close()


def test_filters_become_milvus_expressions():
    assert filter_expression(None) == ""
    assert filter_expression(SearchFilter(date_from="2022-01-01")) == "date > 0 and date >= 20220101"
    assert filter_expression(SearchFilter(date_to="2022-12-31", docs=frozenset({'a "b".txt', "c.txt"}))) == (
        'date > 0 and date <= 20221231 and doc_id in ["a \\"b\\".txt", "c.txt"]'
    )


def test_an_unreachable_milvus_gives_a_clear_error(tmp_path, embedder, sample_documents):
    config = Config(store=StoreConfig(kind="milvus", milvus_uri="http://127.0.0.1:9"))
    with pytest.raises(StoreError, match="cannot reach Milvus at http://127.0.0.1:9"):
        build_index(sample_documents[:1], tmp_path / "index", embedder, config)
    assert not (tmp_path / "index" / CURRENT_FILE).exists()


def test_a_collection_with_another_schema_is_refused(milvus_index):
    index_dir, _ = milvus_index
    generation = index_dir / (index_dir / CURRENT_FILE).read_text().strip()
    manifest = json.loads((generation / "manifest.json").read_text())
    manifest["store"]["schema_version"] = 0
    (generation / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexLoadError, match="schema 1.*rebuild the index"):
        Index.open(index_dir)


def test_a_missing_collection_is_refused_with_the_rebuild_command(milvus_index):
    index_dir, _ = milvus_index
    recorded = read_manifest(index_dir)["store"]
    client = _client(recorded["uri"])
    client.drop_alias(recorded["alias"])
    client.drop_collection(recorded["collection"])
    client.close()
    with pytest.raises(IndexLoadError, match="is missing from Milvus.*--store milvus"):
        Index.open(index_dir)


def test_a_killed_milvus_build_leaves_the_previous_collection_answering(milvus_index, embedder, tmp_path):
    index_dir, config = milvus_index
    before = read_manifest(index_dir)
    corpus = big_corpus(tmp_path / "big", 40)
    process = subprocess.Popen(
        [sys.executable, "-m", "rag.cli", "index", str(corpus), "--index", str(index_dir), "--quiet"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    time.sleep(8.0)
    assert process.poll() is None, "the build finished before it could be killed; make the corpus bigger"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert read_manifest(index_dir) == before
    index = Index.open(index_dir)
    assert Retriever(index, embedder).search(QUESTION, k=1)[0].doc_id == "004_c0bc88ef037bc82c.txt"
    index.close()
    # the next build clears what the killed one left in Milvus (the replaced collection stays)
    build_index(load_documents([SAMPLE_CORPUS]).documents[:4], index_dir, embedder)
    recorded = read_manifest(index_dir)["store"]
    assert recorded["kind"] == "milvus"  # kept without being named again
    assert collections_of(recorded["uri"], index_dir) == sorted([before["store"]["collection"], recorded["collection"]])
