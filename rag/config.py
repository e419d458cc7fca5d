"""One configuration tree with defaults; it is also what an index's manifest records."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

RetrievalMode = Literal["hybrid", "dense", "bm25"]
RETRIEVAL_MODES: tuple[str, ...] = ("hybrid", "dense", "bm25")
EMBEDDING_BACKENDS: tuple[str, ...] = ("onnx-int8", "torch")
VECTOR_INDEX_KINDS: tuple[str, ...] = ("auto", "flat", "ivf")
STORE_KINDS: tuple[str, ...] = ("faiss", "milvus")


@dataclass(frozen=True)
class ChunkingConfig:
    """How cleaned article text is cut into chunks."""

    max_tokens: int = 160  # word pieces per chunk; the model reads at most 256
    overlap_sentences: int = 1
    min_chunk_chars: int = 20


@dataclass(frozen=True)
class EmbeddingConfig:
    """Which model embeds chunks and questions, and how it runs."""

    model_name: str = "sentence-transformers/all-MiniLM-L6-v2"
    dimension: int = 384
    # "onnx-int8": the model exported to ONNX and quantized per channel, run by onnxruntime
    # (about 2x the passages/s of "torch", cosine >= 0.98 to it); "torch": sentence-transformers fp32
    backend: str = "onnx-int8"
    batch_size: int = 16  # texts per forward pass, taken in length order so little padding is encoded
    title_in_chunk: bool = True  # embed "title. chunk" so short chunks keep their topic


@dataclass(frozen=True)
class VectorIndexConfig:
    """The FAISS index over chunk vectors: exact below ``ann_threshold`` chunks, IVF from there."""

    kind: str = "auto"  # "auto", "flat" (exact inner product) or "ivf" (inverted lists, approximate)
    ann_threshold: int = 100_000  # chunks from which "auto" builds an IVF index
    nlist: int | None = None  # IVF lists; None takes 4 * sqrt(chunks)
    nprobe: int = 64  # lists an IVF search visits: more is slower and closer to exact
    exact_filter_limit: int = 20_000  # a filter allowing at most this many chunks is searched exactly


@dataclass(frozen=True)
class StoreConfig:
    """Where chunk vectors and keyword terms live (see rag/stores): embedded, or a Milvus."""

    kind: str = "faiss"  # "faiss": FAISS + bm25s in the index folder; "milvus": a Milvus collection
    milvus_uri: str | None = None  # a local file (Milvus Lite) or http://host:19530 (server, cluster)
    milvus_token: str | None = None  # "user:password" for a server that wants one


@dataclass(frozen=True)
class DedupConfig:
    """Near-duplicate article detection (MinHash over word shingles)."""

    shingle_words: int = 3
    num_perm: int = 128
    threshold: float = 0.5  # estimated Jaccard above which two articles are near-duplicates
    passage_overlap: float = 0.5  # token Jaccard above which two passages are one result


@dataclass(frozen=True)
class RetrievalConfig:
    """Defaults for searching an index."""

    k: int = 5
    mode: RetrievalMode = "hybrid"
    candidates: int = 50  # hits each retriever passes to fusion
    rrf_k: int = 60


@dataclass(frozen=True)
class AnswerConfig:
    """Defaults for the extractive answerer."""

    passages: int = 8  # passages retrieved per question
    reader_passages: int = 6  # of those, how many the reader reads (its cost grows with them)
    # candidate spans the reader proposes per passage; the combiner is fitted with this many
    # (recorded in the checkpoint's calibration), so refit it after changing this
    spans_per_passage: int = 3
    # confidence below which the answerer abstains; None takes the threshold chosen with the
    # reader's combiner on held-out questions (recorded in the checkpoint's metadata)
    threshold: float | None = None
    max_question_chars: int = 1000  # also the limit of each earlier question in a history
    max_history_items: int = 20


@dataclass(frozen=True)
class Config:
    """Everything that shapes an index and the answers drawn from it."""

    chunking: ChunkingConfig = field(default_factory=ChunkingConfig)
    embedding: EmbeddingConfig = field(default_factory=EmbeddingConfig)
    vectors: VectorIndexConfig = field(default_factory=VectorIndexConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    dedup: DedupConfig = field(default_factory=DedupConfig)
    retrieval: RetrievalConfig = field(default_factory=RetrievalConfig)
    answer: AnswerConfig = field(default_factory=AnswerConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Config":
        """Rebuild a config from ``to_dict`` output; unknown keys are ignored, missing ones default."""
        kwargs = {}
        for section in dataclasses.fields(cls):
            section_cls = section.default_factory  # type: ignore[misc]
            known = {f.name for f in dataclasses.fields(section_cls)}
            values = {k: v for k, v in (data.get(section.name) or {}).items() if k in known}
            kwargs[section.name] = section_cls(**values)
        return cls(**kwargs)
