"""The Milvus chunk store: one collection per index generation, through ``pymilvus``.

``--milvus-uri`` names the Milvus: a local file path runs Milvus Lite inside this process (for
tests and small archives; one process at a time), ``http://host:19530`` a Milvus server or
cluster. Each collection holds, per chunk row::

    row (INT64, primary key) | doc_id (VARCHAR) | date (INT64 YYYYMMDD, 0 when undated)
    terms (VARCHAR: the chunk's stemmed keyword terms) | vector (FLOAT_VECTOR, inner product)
    sparse (SPARSE_FLOAT_VECTOR, filled by Milvus's BM25 function from ``terms``)

Milvus scores BM25 and fuses hybrid results (``RRFRanker``) on the server; filters are Milvus
expressions. A build writes a new collection, named after its generation, and the index swaps
``CURRENT`` only once it is complete, so a killed build leaves the live collection answering.
After the swap the alias ``rag_<index key>`` is pointed at the live collection and collections
of older or killed builds are dropped, except the one just replaced (see ``remove_stale_collections``).
"""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from rag.config import Config
from rag.stores import ChunkTable, Hit, SearchFilter, StoreError
from rag.stores.terms import bm25_tokens
from rag.vectors import resolve_kind

SCHEMA_VERSION = 1
# ``terms`` holds the chunk's keyword terms already analysed here (rag/stores/terms.py: stemmed,
# stop words out) and joined by spaces, so Milvus only splits them: BM25 then sees the same terms
# as the embedded store, on Milvus Lite (whose analyzers do not stem) and on a server alike
ANALYZER = {"tokenizer": "standard"}
FIELDS = ("row", "doc_id", "date", "terms", "vector", "sparse")
_INSERT_BATCH = 1_000
_MAX_TEXT_BYTES = 65_535


def _client(uri: str, token: str | None = None) -> Any:
    """A connected ``MilvusClient``; a clear ``StoreError`` when pymilvus is missing or Milvus
    cannot be reached."""
    try:
        from pymilvus import MilvusClient
    except ImportError:
        raise StoreError(
            "the Milvus store needs pymilvus and milvus-lite: pip install -e '.[milvus]'"
        ) from None
    try:
        return MilvusClient(uri=uri, token=token or "")
    except Exception as exc:  # pymilvus raises MilvusException, grpc and OS errors alike
        raise StoreError(f"cannot reach Milvus at {uri}: {exc}") from None


def resolve_uri(uri: str) -> str:
    """A server URI as given; a Milvus Lite file as an absolute path (the manifest outlives the cwd)."""
    if re.match(r"^[a-z]+://", uri):
        return uri
    return str(Path(uri).expanduser().resolve())


def index_key(index_dir: Path) -> str:
    """Names this index's collections apart from other indexes sharing the same Milvus."""
    return hashlib.sha1(str(Path(index_dir).resolve()).encode()).hexdigest()[:12]


def _collection_name(index_dir: Path, generation: Path) -> str:
    return f"rag_{index_key(index_dir)}_{re.sub(r'[^0-9A-Za-z]', '_', generation.name.lstrip('.'))}"


def _dense_index(rows: int, config: Config) -> tuple[dict[str, Any], dict[str, Any]]:
    """The dense index for ``rows`` vectors (as the FAISS store chooses: exact below the ANN
    threshold) and its search parameters."""
    kind = resolve_kind(rows, config.vectors)
    if kind == "flat":
        return {"index_type": "FLAT", "params": {}}, {}
    if config.vectors.kind == "ivf":
        nlist = config.vectors.nlist or max(1, round(4 * rows ** 0.5))
        return {"index_type": "IVF_FLAT", "params": {"nlist": nlist}}, {"nprobe": config.vectors.nprobe}
    # past the threshold in "auto": HNSW, Milvus's usual choice for large in-memory collections
    return {"index_type": "HNSW", "params": {"M": 16, "efConstruction": 200}}, {"ef": 128}


def _date_number(date: str | None) -> int:
    return int(date.replace("-", "")) if date else 0


def write_milvus_store(folder: Path, table: ChunkTable, config: Config, index_dir: Path) -> dict[str, Any]:
    """Create the collection of the generation being built in ``folder`` and fill it."""
    from pymilvus import DataType, Function, FunctionType

    if not config.store.milvus_uri:
        raise StoreError("the Milvus store needs --milvus-uri (a local file for Milvus Lite, or http://host:19530)")
    uri = resolve_uri(config.store.milvus_uri)
    client = _client(uri, config.store.milvus_token)
    name = _collection_name(index_dir, folder)
    try:
        if client.has_collection(name):
            client.drop_collection(name)
        schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("row", DataType.INT64, is_primary=True)
        schema.add_field("doc_id", DataType.VARCHAR, max_length=1024)
        schema.add_field("date", DataType.INT64)
        schema.add_field("terms", DataType.VARCHAR, max_length=_MAX_TEXT_BYTES, enable_analyzer=True,
                         analyzer_params=ANALYZER)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=config.embedding.dimension)
        schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        schema.add_function(Function(name="bm25", function_type=FunctionType.BM25,
                                     input_field_names=["terms"], output_field_names=["sparse"]))
        dense_index, search_params = _dense_index(len(table), config)
        index_params = client.prepare_index_params()
        index_params.add_index(field_name="vector", metric_type="IP", **dense_index)
        # bm25s's defaults (the embedded store), so that both score keyword matches alike
        index_params.add_index(field_name="sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25",
                               params={"bm25_k1": 1.5, "bm25_b": 0.75})
        client.create_collection(name, schema=schema, index_params=index_params)
        for first in range(0, len(table), _INSERT_BATCH):
            rows = range(first, min(first + _INSERT_BATCH, len(table)))
            terms = bm25_tokens([table.texts[row] for row in rows])
            client.insert(name, [
                {"row": row, "doc_id": table.doc_ids[row], "date": _date_number(table.dates[row]),
                 "terms": _clip(" ".join(words)), "vector": table.vectors[row].astype(np.float32).tolist()}
                for row, words in zip(rows, terms)
            ])
        client.flush(name)
        client.load_collection(name)
    except StoreError:
        raise
    except Exception as exc:
        raise StoreError(f"writing collection {name} to Milvus at {uri} failed: {exc}") from None
    finally:
        client.close()
    return {
        "kind": "milvus", "uri": uri, "collection": name, "alias": f"rag_{index_key(index_dir)}",
        "schema_version": SCHEMA_VERSION, "fields": list(FIELDS),
        "vectors": {"type": dense_index["index_type"].lower(), "vectors": len(table),
                    "params": dense_index["params"], "search": search_params},
    }


def _clip(text: str) -> str:
    """Keep a keyword text within the VARCHAR limit (bytes, not characters)."""
    encoded = text.encode("utf-8")
    return text if len(encoded) <= _MAX_TEXT_BYTES else encoded[:_MAX_TEXT_BYTES].decode("utf-8", "ignore")


def remove_stale_collections(index_dir: Path, recorded: dict[str, Any], replaced: str | None = None) -> None:
    """Point the index's alias at the live collection, then drop the index's other collections
    (older generations, killed builds) but ``replaced``, the one live until now: a `rag serve`
    that opened it keeps answering until it reloads, and the next build drops it."""
    client = _client(recorded["uri"])
    try:
        live, alias = recorded["collection"], recorded["alias"]
        if alias in client.list_aliases().get("aliases", []):
            client.alter_alias(live, alias)
        else:
            client.create_alias(live, alias)
        prefix = f"rag_{index_key(index_dir)}_"
        for name in client.list_collections():
            if name.startswith(prefix) and name not in (live, replaced):
                client.drop_collection(name)
    finally:
        client.close()


def keyword_query(text: str) -> str:
    """The question's keyword terms as the ``terms`` field holds them ("" when none is left)."""
    return " ".join(bm25_tokens([text])[0])


def filter_expression(where: SearchFilter | None) -> str:
    """The Milvus boolean expression of a filter ("" for none)."""
    if not where:
        return ""
    parts = []
    if where.date_from or where.date_to:
        parts.append("date > 0")  # undated documents drop out of a date-filtered search
        if where.date_from:
            parts.append(f"date >= {_date_number(where.date_from)}")
        if where.date_to:
            parts.append(f"date <= {_date_number(where.date_to)}")
    if where.docs is not None:
        parts.append(f"doc_id in {json.dumps(sorted(where.docs), ensure_ascii=False)}")
    return " and ".join(parts)


class MilvusStore:
    """A generation's collection, opened for searching."""

    def __init__(self, recorded: dict[str, Any], config: Config):
        self.recorded = recorded
        self.name = recorded["collection"]
        self.client = _client(recorded["uri"], config.store.milvus_token)
        if not self.client.has_collection(self.name):
            self.client.close()
            raise StoreError(
                f"collection {self.name} is missing from Milvus at {recorded['uri']}: "
                "rebuild the index with `rag index PATH ... --store milvus --milvus-uri URI`"
            )
        fields = [f["name"] for f in self.client.describe_collection(self.name)["fields"]]
        if recorded.get("schema_version") != SCHEMA_VERSION or sorted(fields) != sorted(FIELDS):
            self.client.close()
            raise StoreError(
                f"collection {self.name} at {recorded['uri']} has fields {fields}, this version expects "
                f"{list(FIELDS)} (schema {SCHEMA_VERSION}): rebuild the index with `rag index`"
            )
        self.client.load_collection(self.name)
        self.dense_params = {"metric_type": "IP", "params": recorded.get("vectors", {}).get("search", {})}
        self.dimension = config.embedding.dimension

    def count(self) -> int:
        found = self.client.query(self.name, filter="", output_fields=["count(*)"], consistency_level="Strong")
        return int(found[0]["count(*)"])

    def vectors(self) -> np.ndarray:
        matrix = np.zeros((self.count(), self.dimension), dtype=np.float32)
        iterator = self.client.query_iterator(self.name, batch_size=1_000, filter="row >= 0",
                                              output_fields=["row", "vector"])
        try:
            while batch := iterator.next():
                for item in batch:
                    matrix[int(item["row"])] = item["vector"]
        finally:
            iterator.close()
        return matrix

    def _search(self, data: list, field: str, params: dict[str, Any], n: int, where: SearchFilter | None) -> list[Any]:
        if n <= 0 or (where is not None and where.docs is not None and not where.docs):
            return []
        found = self.client.search(self.name, data=data, anns_field=field, search_params=params, limit=n,
                                   filter=filter_expression(where), output_fields=["row"])
        return list(found[0]) if found else []

    def dense(self, vector: np.ndarray, n: int, where: SearchFilter | None = None) -> list[Hit]:
        found = self._search([np.asarray(vector, dtype=np.float32).tolist()], "vector", self.dense_params, n, where)
        return [Hit(int(h.id), float(h.distance), dense=float(h.distance)) for h in found]

    def keyword(self, text: str, n: int, where: SearchFilter | None = None) -> list[Hit]:
        query = keyword_query(text)
        if not query:
            return []
        found = self._search([query], "sparse", {"metric_type": "BM25"}, n, where)
        # best first either way; Milvus Lite reports BM25 as a negative distance, servers as a score
        return [Hit(int(h.id), abs(float(h.distance)), keyword=abs(float(h.distance)))
                for h in found if float(h.distance) != 0]

    def hybrid(
        self, text: str, vector: np.ndarray, n: int, where: SearchFilter | None = None, rrf_k: int = 60
    ) -> list[Hit]:
        from pymilvus import AnnSearchRequest, RRFRanker

        if n <= 0 or (where is not None and where.docs is not None and not where.docs):
            return []
        expression, query = filter_expression(where), keyword_query(text)
        requests = [AnnSearchRequest(data=[np.asarray(vector, dtype=np.float32).tolist()], anns_field="vector",
                                     param=self.dense_params, limit=n, expr=expression)]
        if query:
            requests.append(AnnSearchRequest(data=[query], anns_field="sparse", param={"metric_type": "BM25"},
                                             limit=n, expr=expression))
        # as many as the two lists can hold together, like the embedded store's fusion
        found = self.client.hybrid_search(self.name, requests, RRFRanker(rrf_k), limit=2 * n, output_fields=["row"])
        return [Hit(int(h.id), float(h.distance)) for h in (found[0] if found else [])]

    def close(self) -> None:
        self.client.close()
