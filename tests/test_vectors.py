"""The chunk-vector index: flat below the threshold, IVF from it; exact read-back; filtered search."""
from __future__ import annotations

import dataclasses

import faiss
import numpy as np
import pytest

from rag.config import VectorIndexConfig
from rag.vectors import all_vectors, build_vector_index, describe, ivf_lists, search

DIMENSION = 64


def clustered(n: int, seed: int, topics: int = 40) -> np.ndarray:
    """Unit vectors around ``topics`` fixed centres, as chunk embeddings gather around subjects."""
    centres = np.random.default_rng(0).standard_normal((topics, DIMENSION)).astype(np.float32)
    rng = np.random.default_rng(seed)
    x = centres[rng.integers(0, topics, n)] + 0.6 * rng.standard_normal((n, DIMENSION)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def vectors() -> np.ndarray:
    return clustered(5000, seed=1)


@pytest.fixture(scope="module")
def indexes(vectors) -> dict[str, faiss.Index]:
    return {kind: build_vector_index(vectors, VectorIndexConfig(kind=kind)) for kind in ("flat", "ivf")}


def test_auto_builds_flat_below_the_threshold_and_ivf_from_it():
    config = VectorIndexConfig(ann_threshold=2000)

    assert describe(build_vector_index(clustered(1000, seed=2), config)) == {"type": "flat", "vectors": 1000}
    assert describe(build_vector_index(clustered(3000, seed=2), config)) == {
        "type": "ivf", "vectors": 3000, "nlist": ivf_lists(3000, config), "nprobe": 64,
    }


def test_ivf_lists_follow_sqrt_but_keep_enough_training_points_each():
    assert ivf_lists(1_000_000, VectorIndexConfig()) == 4000
    assert ivf_lists(3000, VectorIndexConfig()) == 3000 // 39  # 4 * sqrt(3000) = 219 would warn
    assert ivf_lists(10, VectorIndexConfig()) == 1
    assert ivf_lists(1_000_000, VectorIndexConfig(nlist=500)) == 500


def test_ivf_finds_nearly_what_exact_search_finds(vectors, indexes):
    queries = clustered(100, seed=3)
    config = VectorIndexConfig(nprobe=4)  # 4 of 128 lists: a real approximation, not a full scan
    _, truth = indexes["flat"].search(queries, 10)

    found = [[row for row, _ in search(indexes["ivf"], q, 10, None, config)] for q in queries]

    recall = np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth)])
    assert recall >= 0.9


def test_ivf_gives_back_exactly_the_vectors_it_was_built_from(vectors, indexes):
    assert np.array_equal(all_vectors(indexes["ivf"]), vectors)
    # also after the round trip through a file, which is how an index is stored and reopened
    reopened = faiss.deserialize_index(faiss.serialize_index(indexes["ivf"]))
    assert np.array_equal(all_vectors(reopened), vectors)
    assert describe(reopened) == describe(indexes["ivf"])


@pytest.mark.parametrize("kind", ["flat", "ivf"])
@pytest.mark.parametrize("exact_filter_limit", [20_000, 0], ids=["exact-over-filter", "selector"])
def test_a_filtered_search_returns_only_allowed_rows(vectors, indexes, kind, exact_filter_limit):
    config = VectorIndexConfig(exact_filter_limit=exact_filter_limit)
    allowed = np.arange(1200, 1500, dtype=np.int64)  # one "document's" chunks: a contiguous range
    query = clustered(1, seed=4)[0]

    hits = search(indexes[kind], query, 10, allowed, config)

    assert hits and {row for row, _ in hits} <= set(allowed.tolist())
    scores = [score for _, score in hits]
    assert scores == sorted(scores, reverse=True)
    best = allowed[np.argsort(-(vectors[allowed] @ query))[:10]]
    if kind == "flat" or exact_filter_limit:  # both exact: the very rows brute force finds
        assert [row for row, _ in hits] == best.tolist()
        assert np.allclose(scores, vectors[best] @ query, atol=1e-5)


@pytest.mark.parametrize("kind", ["flat", "ivf"])
def test_asking_for_more_rows_than_there_are_returns_what_there_is(indexes, kind):
    query = clustered(1, seed=5)[0]
    few = np.array([7, 70, 700], dtype=np.int64)

    assert sorted(row for row, _ in search(indexes[kind], query, 50, few, VectorIndexConfig())) == [7, 70, 700]
    assert search(indexes[kind], query, 10, np.array([], dtype=np.int64), VectorIndexConfig()) == []
    tiny = build_vector_index(clustered(20, seed=6), VectorIndexConfig(kind=kind))
    assert len(search(tiny, query, 50, None, VectorIndexConfig())) == 20


def test_an_empty_index_is_flat_and_reads_back_empty():
    index = build_vector_index(np.zeros((0, DIMENSION), dtype=np.float32), VectorIndexConfig(kind="ivf"))

    assert describe(index) == {"type": "flat", "vectors": 0}
    assert all_vectors(index).shape == (0, DIMENSION)
    assert search(index, np.ones(DIMENSION, dtype=np.float32), 5, None, VectorIndexConfig()) == []


def test_an_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="hnsw"):
        build_vector_index(clustered(10, seed=7), dataclasses.replace(VectorIndexConfig(), kind="hnsw"))
