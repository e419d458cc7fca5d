"""The index folder: counts, incremental updates, atomic writes, refusal of foreign indexes."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import big_corpus

from rag.config import ChunkingConfig, Config, EmbeddingConfig
from rag.embedding import Embedder
from rag.ingest import SAMPLE_CORPUS, load_documents
from rag.store import CURRENT_FILE, Index, IndexLoadError, build_index, read_manifest


def copy_sample(tmp_path: Path) -> Path:
    corpus = tmp_path / "corpus"
    shutil.copytree(SAMPLE_CORPUS, corpus)
    return corpus


def test_index_holds_every_chunk_in_faiss_sqlite_and_bm25(loaded_index: Index):
    manifest = loaded_index.manifest
    assert manifest["model"] == "sentence-transformers/all-MiniLM-L6-v2" and manifest["dimension"] == 384
    assert manifest["counts"]["documents"] == 5
    assert loaded_index.store.count() == manifest["counts"]["chunks"] == loaded_index.chunk_count
    assert loaded_index.store.bm25.scores["num_docs"] == loaded_index.chunk_count
    assert manifest["config"]["chunking"]["max_tokens"] == Config().chunking.max_tokens
    for record in loaded_index.chunks():
        assert record["text"] == loaded_index.document_text(record["doc"])[record["start"] : record["end"]]


def test_near_duplicate_group_is_recorded(loaded_index: Index):
    groups = {d.id: d.dup_group for d in loaded_index.documents.values()}
    assert groups["001_066d803ddee4351a.txt"] == groups["000_c843eb08c4d7e257.txt"] == "000_c843eb08c4d7e257.txt"
    assert groups["004_c0bc88ef037bc82c.txt"] is None


def test_second_run_embeds_nothing_and_changes_are_incremental(tmp_path: Path, embedder):
    corpus = copy_sample(tmp_path)
    index_dir = tmp_path / "index"
    first = build_index(load_documents([corpus]).documents, index_dir, embedder)
    assert len(first.added) == 5 and first.chunks_embedded == first.chunks
    again = build_index(load_documents([corpus]).documents, index_dir, embedder)
    assert again.chunks_embedded == 0 and not again.changed and again.generation == first.generation

    (corpus / "004_c0bc88ef037bc82c.txt").write_text("Short story\n\nThe ferry to Kelbrook now runs every two hours, the harbour master said on Monday.\n", encoding="utf-8")
    (corpus / "002_897760c4759c785f.txt").unlink()
    (corpus / "new.md").write_text("# Bridge opens\n\nThe new bridge over the Kel river opened on Friday after six years of works.\n", encoding="utf-8")
    third = build_index(load_documents([corpus]).documents, index_dir, embedder)
    assert third.added == ["new.md"] and third.updated == ["004_c0bc88ef037bc82c.txt"]
    assert third.removed == ["002_897760c4759c785f.txt"]
    kept_chunks = sum(Index.open(index_dir).documents[d].chunk_count for d in ("new.md", "004_c0bc88ef037bc82c.txt"))
    assert third.chunks_embedded == kept_chunks
    index = Index.open(index_dir)
    assert sorted(index.documents) == sorted(["000_c843eb08c4d7e257.txt", "001_066d803ddee4351a.txt", "003_37e2292394dd45fd.txt", "004_c0bc88ef037bc82c.txt", "new.md"])
    assert [p.name for p in index_dir.iterdir() if p.name.startswith("gen-")] == [third.generation]


def test_adding_keeps_documents_not_given(tmp_path: Path, embedder, sample_documents):
    index_dir = tmp_path / "index"
    build_index(sample_documents, index_dir, embedder)
    extra = tmp_path / "extra.txt"
    extra.write_text("Ferry news\n\nThe Kelbrook ferry carried a record 900 passengers on Sunday, the operator said.\n", encoding="utf-8")
    report = build_index(load_documents([extra]).documents, index_dir, embedder, remove_missing=False)
    assert report.added == ["extra.txt"] and report.removed == [] and report.documents == 6


def _extra_article(tmp_path: Path) -> list:
    extra = tmp_path / "extra.txt"
    extra.write_text("Ferry news\n\nThe Kelbrook ferry carried a record 900 passengers on Sunday, the operator said.\n", encoding="utf-8")
    return load_documents([extra]).documents


def test_adding_to_an_index_built_with_other_chunking_keeps_every_document(tmp_path: Path, embedder, sample_documents):
    index_dir = tmp_path / "index"
    build_index(sample_documents, index_dir, embedder, Config(chunking=ChunkingConfig(max_tokens=96)))
    report = build_index(_extra_article(tmp_path), index_dir, embedder, Config(), remove_missing=False)
    assert report.added == ["extra.txt"] and report.removed == []
    assert sorted(report.reembedded) == sorted(d.id for d in sample_documents)
    index = Index.open(index_dir)
    assert len(index.documents) == 6 and index.config.chunking.max_tokens == Config().chunking.max_tokens


def test_adding_to_an_index_with_unreadable_vectors_reembeds_the_stored_documents(tmp_path: Path, embedder, sample_index: Path):
    index_dir = tmp_path / "index"
    shutil.copytree(sample_index, index_dir)
    generation = index_dir / (index_dir / CURRENT_FILE).read_text().strip()
    (generation / "chunks.faiss").write_bytes(b"garbage")
    report = build_index(_extra_article(tmp_path), index_dir, embedder, remove_missing=False)
    assert report.documents == 6 and len(report.reembedded) == 5
    assert Index.open(index_dir).document_text("004_c0bc88ef037bc82c.txt")


def test_adding_to_an_unreadable_index_is_refused_and_changes_nothing(tmp_path: Path, embedder, sample_index: Path):
    index_dir = tmp_path / "index"
    shutil.copytree(sample_index, index_dir)
    live = (index_dir / CURRENT_FILE).read_text()
    generation = index_dir / live.strip()
    (generation / "chunks.faiss").write_bytes(b"garbage")
    (generation / "store.sqlite").write_bytes(b"garbage")
    with pytest.raises(IndexLoadError, match="cannot add to the index .* rebuild it from the original files"):
        build_index(_extra_article(tmp_path), index_dir, embedder, remove_missing=False)
    assert (index_dir / CURRENT_FILE).read_text() == live and generation.is_dir()


def test_index_built_with_another_model_is_refused(sample_index: Path):
    other = Config(embedding=EmbeddingConfig(model_name="some/other-model", dimension=768))
    with pytest.raises(IndexLoadError, match="built with model sentence-transformers/all-MiniLM-L6-v2 .*other-model"):
        Index.open(sample_index, other)


@pytest.fixture(scope="module")
def torch_embedder() -> Embedder:
    return Embedder(EmbeddingConfig(backend="torch")).warm_up()


def test_manifest_records_the_embedding_backend_and_the_vector_index(loaded_index: Index):
    manifest = loaded_index.manifest
    assert manifest["embedding"]["backend"] == "onnx-int8" and len(manifest["embedding"]["onnx_sha256"]) == 64
    assert manifest["store"] == {"kind": "faiss", "vectors": {"type": "flat", "vectors": loaded_index.chunk_count}}


def test_index_built_with_the_other_backend_is_refused_with_the_rebuild_command(sample_index: Path, embedder, torch_embedder):
    torch_config = Config(embedding=EmbeddingConfig(backend="torch"))
    with pytest.raises(IndexLoadError, match=r"onnx-int8 backend.*rag index PATH \.\.\. --embedding-backend torch"):
        Index.open(sample_index, torch_config)
    from rag.retrieval import Retriever

    with pytest.raises(IndexLoadError, match="their vectors do not mix"):
        Retriever(Index.open(sample_index), torch_embedder)
    with pytest.raises(ValueError, match="runs .* on torch"):
        build_index([], sample_index, torch_embedder, Config())


def test_rebuilding_with_the_other_backend_reembeds_everything(tmp_path: Path, sample_documents, torch_embedder):
    index_dir = tmp_path / "index"
    build_index(sample_documents, index_dir, torch_embedder, Config(embedding=EmbeddingConfig(backend="torch")))
    assert read_manifest(index_dir)["embedding"] == {"model": Config().embedding.model_name, "backend": "torch"}
    assert Index.open(index_dir).config.embedding.backend == "torch"


def test_an_index_of_the_previous_format_is_reembedded_when_adding(tmp_path: Path, embedder, sample_index: Path):
    index_dir = tmp_path / "index"
    shutil.copytree(sample_index, index_dir)
    generation = index_dir / (index_dir / CURRENT_FILE).read_text().strip()
    manifest = json.loads((generation / "manifest.json").read_text())
    (generation / "manifest.json").write_text(json.dumps({**manifest, "format_version": 1}))
    with pytest.raises(IndexLoadError, match="format version 1"):
        Index.open(index_dir)
    report = build_index(_extra_article(tmp_path), index_dir, embedder, remove_missing=False)
    assert report.documents == 6 and len(report.reembedded) == 5


def test_large_indexes_switch_to_ivf_and_keep_filters_working(tmp_path: Path, embedder, sample_documents):
    from rag.config import VectorIndexConfig
    from rag.retrieval import Retriever, SearchFilter

    index_dir = tmp_path / "index"
    # a threshold below the sample's 34 chunks stands in for the default 100,000
    config = Config(vectors=VectorIndexConfig(ann_threshold=20, exact_filter_limit=5))
    report = build_index(sample_documents, index_dir, embedder, config)
    assert report.vector_index == "ivf"
    index = Index.open(index_dir)
    assert index.manifest["store"]["vectors"]["type"] == "ivf" and index.manifest["store"]["vectors"]["nlist"] >= 1
    retriever = Retriever(index, embedder)
    question = "What reward did the US offer for information on Hafiz Saeed?"
    assert retriever.search(question, k=1, mode="dense")[0].doc_id == "004_c0bc88ef037bc82c.txt"
    only = SearchFilter(docs=frozenset({"003_37e2292394dd45fd.txt"}))
    assert {p.doc_id for p in retriever.search(question, k=3, mode="dense", where=only)} == {"003_37e2292394dd45fd.txt"}
    # adding reuses the IVF index's vectors exactly: only the new article is embedded
    added = build_index(_extra_article(tmp_path), index_dir, embedder, remove_missing=False)
    assert added.chunks_embedded == 1 and added.documents == 6


def test_missing_and_corrupt_indexes_give_clear_errors(tmp_path: Path, sample_index: Path):
    with pytest.raises(IndexLoadError, match="no index at"):
        Index.open(tmp_path / "nothing")
    broken = tmp_path / "broken"
    shutil.copytree(sample_index, broken)
    generation = broken / (broken / CURRENT_FILE).read_text().strip()
    (generation / "chunks.faiss").write_bytes(b"garbage")
    with pytest.raises(IndexLoadError, match="corrupt"):
        Index.open(broken)
    manifest = json.loads((generation / "manifest.json").read_text())
    manifest["counts"]["chunks"] += 1
    shutil.copy(sample_index / (sample_index / CURRENT_FILE).read_text().strip() / "chunks.faiss", generation / "chunks.faiss")
    (generation / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexLoadError, match="counts disagree"):
        Index.open(broken)


@pytest.mark.parametrize("kill_after", [4.0, 9.0])
def test_killed_build_leaves_the_previous_index_loadable(tmp_path: Path, sample_index: Path, kill_after: float):
    index_dir = tmp_path / "index"
    shutil.copytree(sample_index, index_dir)
    before = read_manifest(index_dir)
    corpus = big_corpus(tmp_path / "big", 60)
    process = subprocess.Popen(
        [sys.executable, "-m", "rag.cli", "index", str(corpus), "--index", str(index_dir), "--quiet"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    time.sleep(kill_after)
    assert process.poll() is None, "the build finished before it could be killed; make the corpus bigger"
    process.send_signal(signal.SIGKILL)
    process.wait()
    index = Index.open(index_dir)
    assert read_manifest(index_dir) == before
    assert sorted(index.documents) == sorted(p.name for p in SAMPLE_CORPUS.glob("*.txt"))
    # the next run clears what the killed one left behind
    report = build_index(load_documents([SAMPLE_CORPUS]).documents, index_dir, Embedder())
    assert not report.changed
    assert sorted(p.name for p in index_dir.iterdir() if "gen-" in p.name) == [report.generation]


def test_a_build_shows_one_progress_bar_with_chunks_per_second(tmp_path: Path, embedder, sample_documents, capsys):
    build_index(sample_documents, tmp_path / "index", embedder, progress=True)
    shown = capsys.readouterr().err
    assert "indexing" in shown and "5/5" in shown and "chunks/s" in shown
    assert "chunking" not in shown  # no second bar per stage
