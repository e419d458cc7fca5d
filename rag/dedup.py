"""Near-duplicate detection: MinHash signatures of documents, LSH groups, passage overlap."""
from __future__ import annotations

import re
from typing import Iterable, Mapping

import numpy as np

from rag.config import DedupConfig

_WORD = re.compile(r"\w+")
_SCHEME = "affine32"  # stored signatures are only comparable under the scheme that made them


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def minhash_signature(text: str, config: DedupConfig) -> np.ndarray:
    """MinHash values of the word shingles of ``text``."""
    from datasketch import MinHash

    tokens = words(text)
    n = config.shingle_words
    shingles = {" ".join(tokens[i : i + n]) for i in range(max(1, len(tokens) - n + 1))}
    minhash = MinHash(num_perm=config.num_perm, scheme=_SCHEME)
    minhash.update_batch([s.encode("utf-8") for s in shingles])
    return minhash.hashvalues.astype(np.uint64)


def near_duplicate_groups(signatures: Mapping[str, np.ndarray], config: DedupConfig) -> dict[str, str]:
    """Map each document that has near-duplicates to its group id (the group's smallest doc id)."""
    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(threshold=config.threshold, num_perm=config.num_perm)
    minhashes = {}
    for doc_id, values in signatures.items():
        minhash = MinHash(num_perm=config.num_perm, hashvalues=values, scheme=_SCHEME)
        minhashes[doc_id] = minhash
        lsh.insert(doc_id, minhash)
    parent = {doc_id: doc_id for doc_id in signatures}

    def root(doc_id: str) -> str:
        while parent[doc_id] != doc_id:
            parent[doc_id] = parent[parent[doc_id]]
            doc_id = parent[doc_id]
        return doc_id

    for doc_id, minhash in minhashes.items():
        for other in lsh.query(minhash):
            # LSH returns candidates; keep only pairs whose estimated Jaccard clears the bar
            if other != doc_id and minhash.jaccard(minhashes[other]) >= config.threshold:
                a, b = root(doc_id), root(other)
                if a != b:
                    parent[max(a, b)] = min(a, b)
    groups: dict[str, list[str]] = {}
    for doc_id in signatures:
        groups.setdefault(root(doc_id), []).append(doc_id)
    return {
        doc_id: min(members)
        for members in groups.values()
        if len(members) > 1
        for doc_id in members
    }


def token_jaccard(a: Iterable[str], b: Iterable[str]) -> float:
    """Jaccard overlap of two token collections (0 when both are empty)."""
    set_a, set_b = set(a), set(b)
    union = set_a | set_b
    return len(set_a & set_b) / len(union) if union else 0.0
