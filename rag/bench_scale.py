"""`rag bench --scale N`: the vector index alone on N synthetic chunk vectors: build, memory, latency, recall."""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import resource
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from rag.config import VECTOR_INDEX_KINDS, VectorIndexConfig
from rag.evaluate import positive_int

SEED = 7  # every random draw (pairs, weights, noise, queries, filters) derives from it
BLOCK = 65_536  # vectors generated at a time: a block's temporaries stay near 100 MiB at 384 dimensions
K = 10
WARM_UP = 10  # untimed queries first: first-call allocations, page faults on the lists
SPREAD_ROWS = 4_000  # rows compared all-to-all when measuring spread (16M cosines)
SPREAD_PROBES = 1_000  # synthetic rows whose nearest neighbour is looked up in the whole set
FILTER_FRACTION = 0.01


def add_scale_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `rag bench --scale N` (it also reads bench's --queries and --json)."""
    group = parser.add_argument_group("scale", "time the vector index alone on N synthetic chunk vectors")
    group.add_argument("--scale", type=positive_int, metavar="N",
                       help="benchmark the vector index on N synthetic vectors instead of indexing a corpus")
    group.add_argument("--vectors-from", type=Path, default=Path("index"), metavar="DIR|FILE.npy",
                       help="real chunk vectors to synthesize from: an index folder or a .npy matrix "
                            "(default: ./index)")
    group.add_argument("--vector-index", choices=VECTOR_INDEX_KINDS, default=None,
                       help="force the index kind (default: the configured auto switch)")


@dataclass(frozen=True)
class Synthesizer:
    """Vectors like real ones: normalize(w * x_p + (1 - w) * x_q + sigma * g).

    x_p, x_q are two different real (base) vectors, w ~ U(0, 1) and g Gaussian noise of unit
    expected norm, so ``sigma`` is the noise's size relative to a unit vector.

    Example:
        >>> Synthesizer(base, sigma=0.3).matrix(1000, seed=1).shape
        (1000, 384)
    """

    base: np.ndarray
    sigma: float

    def block(self, n: int, rng: np.random.Generator) -> np.ndarray:
        rows, dimension = self.base.shape
        p = rng.integers(0, rows, n)
        q = (p + rng.integers(1, rows, n)) % rows  # never p itself
        w = rng.random((n, 1), dtype=np.float32)
        x = w * self.base[p]
        x += (1 - w) * self.base[q]
        x += np.float32(self.sigma / math.sqrt(dimension)) * rng.standard_normal((n, dimension), dtype=np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        return x

    def matrix(self, n: int, seed: int) -> np.ndarray:
        """``n`` vectors, generated ``BLOCK`` rows at a time into one float32 matrix."""
        rng = np.random.default_rng(seed)
        out = np.empty((n, self.base.shape[1]), dtype=np.float32)
        for start in range(0, n, BLOCK):
            stop = min(start + BLOCK, n)
            out[start:stop] = self.block(stop - start, rng)
        return out


def load_base(source: Path) -> np.ndarray:
    """Real chunk vectors, unit float32: from an index folder's FAISS index, or a .npy matrix."""
    if source.suffix == ".npy":
        base = np.load(source)
    else:
        from rag.store import Index

        index = Index.open(source)
        try:
            base = index.store.vectors()
        finally:
            index.close()
    base = np.asarray(base, dtype=np.float32)
    if base.ndim != 2 or len(base) < 2:
        raise ValueError(f"{source}: need a matrix of at least 2 vectors, got shape {base.shape}")
    norms = np.linalg.norm(base, axis=1, keepdims=True)
    return base[norms[:, 0] > 0] / norms[norms[:, 0] > 0]


def nearest_cosine(x: np.ndarray) -> float:
    """Mean over rows of the cosine to the nearest other row (rows are unit vectors)."""
    similarity = x @ x.T
    np.fill_diagonal(similarity, -np.inf)
    return float(similarity.max(axis=1).mean())


def synthetic_spread(base: np.ndarray, sigma: float, rows: int) -> float:
    """``nearest_cosine`` of ``rows`` synthetic vectors, averaged over enough draws to be steady."""
    draws = max(1, math.ceil(2_000 / rows))  # a 34-row draw alone is noisy
    rng = np.random.default_rng(SEED)  # the same draws for every sigma, so the curve is smooth
    synth = Synthesizer(base, sigma)
    return float(np.mean([nearest_cosine(synth.block(rows, rng)) for _ in range(draws)]))


def calibrate_sigma(base: np.ndarray, target: float, rows: int) -> float:
    """The noise at which ``rows`` synthetic vectors are as spread as ``rows`` real ones.

    Spread is compared at equal sizes because nearest neighbours get closer as a set grows;
    the synthetic set at full size is then as much denser as a real corpus of that size would be.
    """
    low, high = 0.0, 4.0
    if synthetic_spread(base, low, rows) <= target:
        return low
    for _ in range(20):  # bisection: more noise, farther neighbours
        middle = (low + high) / 2
        if synthetic_spread(base, middle, rows) > target:
            low = middle
        else:
            high = middle
    return (low + high) / 2


def _rss_mib() -> float:
    """Resident memory now (not the peak): what the index added is the difference."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:  # not Linux: fall back to the peak, in KiB on Linux but bytes on macOS
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _percentiles(values_ms: Sequence[float]) -> dict[str, float]:
    values = np.asarray(values_ms)
    return {"p50": float(np.percentile(values, 50)), "p95": float(np.percentile(values, 95)),
            "mean": float(values.mean())}


def _recall(found: Sequence[Sequence[int]], truth: Sequence[Sequence[int]]) -> float:
    """Mean share of each query's true top rows that the search found."""
    shares = []
    for got, want in zip(found, truth):
        want = {int(r) for r in want if r >= 0}
        shares.append(len(want & set(got)) / len(want) if want else 1.0)
    return float(np.mean(shares))


def _timed_search(search: Callable[[int], list[tuple[int, float]]], count: int) -> tuple[dict[str, float], list[list[int]]]:
    for i in range(-WARM_UP, 0):  # the warm-up queries are extra ones (negative indices), not timed
        search(i)
    spent, found = [], []
    for i in range(count):
        started = time.perf_counter()
        hits = search(i)
        spent.append((time.perf_counter() - started) * 1000)
        found.append([row for row, _ in hits])
    return _percentiles(spent), found


def _exact_truth(vectors: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, float]:
    """Each query's exact top ``k`` rows, and the synthetic set's spread at full size.

    The spread is the mean cosine of ``SPREAD_PROBES`` rows to their nearest other row. The flat
    index is dropped on return: its copy of the vectors must not count in the build's RSS.
    """
    import faiss

    exact = faiss.IndexFlatIP(vectors.shape[1])
    exact.add(vectors)
    _, truth = exact.search(queries, k)  # one batched search
    probes = np.random.default_rng(SEED + 3).choice(len(vectors), min(len(vectors), SPREAD_PROBES), replace=False)
    scores, rows = exact.search(vectors[probes], min(2, len(vectors)))  # the first hit is usually itself
    nearest = [s[r != p].max() for p, s, r in zip(probes, scores, rows) if (r != p).any()]
    return truth, float(np.mean(nearest)) if nearest else float("nan")


def _index_bytes(index: Any) -> int:
    """The index's size on disk (a temporary file, so no second in-memory copy at 1M vectors)."""
    import faiss

    with tempfile.TemporaryDirectory(prefix="rag-scale-") as scratch:
        path = Path(scratch) / "chunks.faiss"
        faiss.write_index(index, str(path))
        return path.stat().st_size


def run_scale(args: argparse.Namespace) -> int:
    """`rag bench --scale N`: see ``add_scale_arguments``."""
    import faiss

    from rag.vectors import build_vector_index, describe, search

    n, count = args.scale, args.queries
    started = time.perf_counter()
    base = load_base(args.vectors_from)
    spread_rows = min(len(base), SPREAD_ROWS)
    real_base = base[np.random.default_rng(SEED).choice(len(base), spread_rows, replace=False)]
    real_spread = nearest_cosine(real_base)
    sigma = calibrate_sigma(base, real_spread, spread_rows)
    synth = Synthesizer(base, sigma)
    vectors = synth.matrix(n, seed=SEED + 1)
    queries = synth.matrix(count + WARM_UP, seed=SEED + 2)  # generated the same way, never added
    queries = np.concatenate([queries[WARM_UP:], queries[:WARM_UP]])  # index -i: the i-th warm-up
    generate_s = time.perf_counter() - started
    result: dict[str, Any] = {
        "vectors": n, "dimension": int(base.shape[1]), "queries": count, "base_vectors": len(base),
        "vectors_from": str(args.vectors_from), "sigma": sigma, "generate_s": generate_s,
        "faiss_threads": faiss.omp_get_max_threads(),
    }

    k = min(K, n)
    truth, full_spread = _exact_truth(vectors, queries[:count], k)
    result["nearest_cosine"] = {
        "real": real_spread, "synthetic_same_size": synthetic_spread(base, sigma, spread_rows),
        "synthetic_full": full_spread, "rows_compared": spread_rows,
    }
    spread = result["nearest_cosine"]
    print(f"scale: {n} synthetic vectors (dimension {base.shape[1]}) from {len(base)} real vectors of "
          f"{args.vectors_from}, noise sigma {sigma:.3f}; generated in {generate_s:.1f} s")
    print(f"spread (mean cosine to the nearest other vector): real {spread['real']:.3f} and synthetic "
          f"{spread['synthetic_same_size']:.3f} over {spread_rows} rows each; synthetic over all {n}: "
          f"{spread['synthetic_full']:.3f}")

    config = VectorIndexConfig() if args.vector_index is None else VectorIndexConfig(kind=args.vector_index)
    rss_before = _rss_mib()
    built = time.perf_counter()
    index = build_vector_index(vectors, config)
    build_s = time.perf_counter() - built
    rss_after = _rss_mib()
    result.update(index=describe(index), config=dataclasses.asdict(config), build_s=build_s,
                  rss_mib_before_build=rss_before, rss_mib_after_build=rss_after,
                  index_mib=_index_bytes(index) / 2**20)
    params = "".join(f" {key}={value}" for key, value in result["index"].items() if key not in ("type", "vectors"))
    print(f"index: {result['index']['type']}{params}; built in {build_s:.1f} s; RSS {rss_before:.0f} -> "
          f"{rss_after:.0f} MiB; index file {result['index_mib']:.1f} MiB")

    stats, found = _timed_search(lambda i: search(index, queries[i], k, None, config), count)
    result.update(search_ms=stats, recall_at_10=_recall(found, truth))
    print(f"search k={k}: p50 {stats['p50']:.2f} ms p95 {stats['p95']:.2f} ms; "
          f"recall@{k} {result['recall_at_10']:.3f} vs exact ({count} queries)")

    # a filter like "these documents": a contiguous range of 1% of the rows, a new one per query
    width = max(1, round(n * FILTER_FRACTION))
    starts = np.random.default_rng(SEED + 4).integers(0, n - width + 1, count + WARM_UP)
    starts = np.concatenate([starts[WARM_UP:], starts[:WARM_UP]])
    allowed = [np.arange(s, s + width, dtype=np.int64) for s in starts]
    filtered_truth = [s + np.argsort(-(vectors[s : s + width] @ q))[:k] for s, q in zip(starts[:count], queries)]
    exact_path = width <= config.exact_filter_limit
    for name, path_config in (("filtered", config), ("filtered_selector", dataclasses.replace(config, exact_filter_limit=0))):
        if name == "filtered_selector" and not exact_path:
            break  # the first pass already took the selector path
        stats, found = _timed_search(lambda i: search(index, queries[i], k, allowed[i], path_config), count)
        path = "exact over the filter" if name == "filtered" and exact_path else "selector"
        result[f"{name}_ms"] = stats
        result[f"{name}_recall_at_10"] = _recall(found, filtered_truth)
        result[f"{name}_path"] = path
        print(f"filtered search, {width} allowed rows ({FILTER_FRACTION:.0%}), {path}: p50 {stats['p50']:.2f} ms "
              f"p95 {stats['p95']:.2f} ms; recall@{k} {result[f'{name}_recall_at_10']:.3f} vs exact over the filter")

    result["total_s"] = time.perf_counter() - started
    print(f"total {result['total_s']:.1f} s")
    if args.json:
        print(json.dumps(result))
    return 0
