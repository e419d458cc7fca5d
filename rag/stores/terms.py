"""The keyword terms of a text, the same for every store: lower-cased, English stop and question
words out, Snowball-stemmed (bm25s's tokenizer with PyStemmer)."""
from __future__ import annotations

from functools import lru_cache
from typing import Any, Sequence


def bm25_tokens(texts: Sequence[str]) -> list[list[str]]:
    """The BM25 terms of each text: lower-cased, English stop words out, Snowball-stemmed."""
    import bm25s

    # "en_plus" also drops question words (what, which, did, ...) that the short list keeps
    return bm25s.tokenize(
        list(texts), stopwords="en_plus", stemmer=_stemmer(), return_ids=False, show_progress=False
    )


@lru_cache(maxsize=1)
def _stemmer() -> Any:
    import Stemmer

    return Stemmer.Stemmer("english").stemWords
