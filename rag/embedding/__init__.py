"""Chunk and question embeddings: all-MiniLM-L6-v2 as int8 ONNX (default) or torch fp32."""
from rag.embedding.model import DEFAULT_MODEL, Embedder, EmbeddingError, load_tokenizer, resolve_model_path

__all__ = ["DEFAULT_MODEL", "Embedder", "EmbeddingError", "load_tokenizer", "resolve_model_path"]
