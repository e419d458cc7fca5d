"""The embedding backends: int8 ONNX (default) keeps the fp32 model's vectors."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from rag.chunking import chunk_document
from rag.config import ChunkingConfig, EmbeddingConfig
from rag.embedding import Embedder, EmbeddingError


@pytest.fixture(scope="module")
def torch_embedder() -> Embedder:
    return Embedder(EmbeddingConfig(backend="torch")).warm_up()


@pytest.fixture(scope="module")
def sample_chunks(embedder, sample_documents) -> list[str]:
    """Every chunk of the sample articles, embedded the way an index embeds it."""
    return [f"{d.title}. {c.text}" for d in sample_documents
            for c in chunk_document(d, ChunkingConfig(), embedder.count_tokens)]


def test_int8_is_the_default_backend(embedder):
    assert embedder.backend == "onnx-int8"
    assert embedder.describe()["onnx_sha256"]


def test_int8_vectors_stay_within_cosine_098_of_fp32(embedder, torch_embedder, sample_chunks):
    int8 = embedder.embed_documents(sample_chunks)
    fp32 = torch_embedder.embed_documents(sample_chunks)
    assert int8.shape == fp32.shape == (len(sample_chunks), 384)
    assert np.allclose(np.linalg.norm(int8, axis=1), 1.0, atol=1e-3)
    cosine = (int8 * fp32).sum(axis=1)
    assert cosine.min() >= 0.98, f"worst chunk: {sample_chunks[int(cosine.argmin())][:80]!r}"


def test_int8_ranks_questions_like_fp32(embedder, torch_embedder, sample_chunks):
    questions = ["What reward did the US offer for Hafiz Saeed?", "Who visited Moscow?"]
    for model in (embedder, torch_embedder):
        assert model.embed_queries(questions).shape == (2, 384)
    best = [(model.embed_queries(questions) @ model.embed_documents(sample_chunks).T).argmax(axis=1)
            for model in (embedder, torch_embedder)]
    assert list(best[0]) == list(best[1])


def test_rows_come_back_in_input_order_whatever_their_length(embedder, sample_chunks):
    texts = [sample_chunks[0], "Short.", sample_chunks[1][:40], sample_chunks[2]]
    together = embedder.embed_documents(texts)  # batched in length order inside
    one_by_one = np.vstack([embedder.embed_documents([t]) for t in texts])
    similarity = together @ one_by_one.T
    assert list(similarity.argmax(axis=1)) == [0, 1, 2, 3]
    # int8 activations are scaled per batch, so a text's vector moves a little with its batch mates
    assert (np.diag(similarity) >= 0.98).all()


def test_unknown_backend_is_refused():
    with pytest.raises(EmbeddingError, match="unknown embedding backend 'gpu'"):
        Embedder(EmbeddingConfig(backend="gpu"))


def test_a_model_without_an_int8_export_says_how_to_make_one(tmp_path):
    with pytest.raises(EmbeddingError, match="python -m rag.embedding.export"):
        Embedder(replace(EmbeddingConfig(), model_name=str(tmp_path))).warm_up()
