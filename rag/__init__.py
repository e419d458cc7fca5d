"""rag: offline extractive question answering over news articles, with verbatim citations.

Stages, one module each: ingest → chunking → embedding → store → retrieval → answer; see README.md.
"""
