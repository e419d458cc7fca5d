"""The engine behind the page: the loaded models and the live index, swapped after an upload."""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Sequence

from rag.answer import Answerer
from rag.embedding import Embedder
from rag.store import Index
from rag.types import Answer


class Engine:
    """Holds the live Answerer; an upload re-indexes and swaps in a fresh one.

    Requests read ``engine.answerer`` once and keep that object for the whole request, so a swap
    never changes the index under a running question.
    """

    def __init__(self, index_dir: Path, embedder: Embedder | None = None):
        self.index_dir = Path(index_dir)
        index = Index.open(self.index_dir)
        self.embedder = embedder or Embedder(index.config.embedding).warm_up()
        self.answerer = Answerer(index, self.embedder).warm_up()
        self.write_lock = threading.Lock()  # held while an upload writes the index

    @property
    def index(self) -> Index:
        return self.answerer.index

    def reload(self) -> None:
        """Open the index's live generation and swap it in."""
        # the loaded models are handed on rather than loaded again
        self.answerer = Answerer(Index.open(self.index_dir), self.embedder, reader=self.answerer.reader).warm_up()

    def ask(self, question: str, history: Sequence[str] = (), **options: Any) -> Answer:
        return self.answerer.ask(question, history=list(history), **options)
