"""Retrieval over the sample articles, with each chunk store: the answering article ranks in the top 3."""
from __future__ import annotations

import pytest

from conftest import STORES, store_config
from rag.retrieval import Retriever, SearchFilter, reciprocal_rank_fusion
from rag.store import Index, build_index

# (question, article that answers it): written from the articles, in other words than theirs
QUESTIONS = [
    ("How long did the Pakistani prime minister's talks with Putin last?", "003_37e2292394dd45fd.txt"),
    ("How many countries voted against Russia in the special General Assembly session?", "002_897760c4759c785f.txt"),
    ("What reward is offered for information about Hafiz Saeed?", "004_c0bc88ef037bc82c.txt"),
    ("Which newspaper reported that Washington wants Pakistan's vote against Russia?", "000_c843eb08c4d7e257.txt"),
    ("Who laid a wreath at the Tomb of the Unknown Soldier?", "003_37e2292394dd45fd.txt"),
    ("In which city did Imran Khan speak about the letter from EU ambassadors?", "002_897760c4759c785f.txt"),
    ("How much is Russia investing in the gas pipeline project?", "004_c0bc88ef037bc82c.txt"),
    ("Which documentary compared Kashmir with Palestine?", "003_37e2292394dd45fd.txt"),
    ("Which Pakistani officials visited Washington back to back?", "000_c843eb08c4d7e257.txt"),
    ("How many lives has Pakistan lost in other countries' wars?", "002_897760c4759c785f.txt"),
]


@pytest.fixture(scope="module", params=STORES)
def retriever(request, tmp_path_factory, embedder, sample_documents) -> Retriever:
    """The sample articles indexed into each store (the same behaviour is asked of both)."""
    folder = tmp_path_factory.mktemp(request.param)
    build_index(sample_documents, folder / "index", embedder, store_config(request.param, folder))
    index = Index.open(folder / "index")
    yield Retriever(index, embedder)
    index.close()


def docs_of(passages) -> list[str]:
    return [doc for p in passages for doc in [p.doc_id, *(d for d, _, _ in p.duplicates)]]


@pytest.mark.parametrize("question, doc_id", QUESTIONS)
def test_answering_article_is_in_the_top_3(retriever, question, doc_id):
    assert doc_id in docs_of(retriever.search(question, k=3))


@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_every_mode_returns_ranked_passages_with_their_score_parts(retriever, mode):
    passages = retriever.search("Putin Khan meeting Kremlin", k=4, mode=mode)
    assert [p.rank for p in passages] == [1, 2, 3, 4]
    assert [p.score for p in passages] == sorted((p.score for p in passages), reverse=True)
    for p in passages:
        assert p.text == retriever.index.document_text(p.doc_id)[p.start : p.end]
        if mode != "hybrid":
            assert (p.dense_score is not None, p.bm25_score is not None) == (mode == "dense", mode == "bm25")
    if mode == "hybrid" and retriever.index.config.store.kind == "faiss":
        # the embedded store fuses here and keeps the parts; Milvus fuses on the server
        assert any(p.dense_score is not None and p.bm25_score is not None for p in passages)


def test_a_keyword_search_gets_the_dense_cosine_of_each_passage_filled_in(retriever):
    question = "Putin Khan meeting Kremlin"
    keyword = retriever.search(question, k=4, mode="bm25")
    filled = retriever.with_dense_scores(question, keyword)
    # the ranking is the keyword search's; each passage now carries its chunk's cosine with the question
    assert [(p.chunk_row, p.rank, p.bm25_score) for p in filled] == [(p.chunk_row, p.rank, p.bm25_score) for p in keyword]
    vectors, query = retriever.index.store.vectors(), retriever.embedder.embed_queries([question])[0]
    assert all(p.dense_score == pytest.approx(float(vectors[p.chunk_row] @ query), abs=1e-4) for p in filled)
    assert retriever.with_dense_scores(question, filled) == filled


def test_near_duplicate_passages_collapse_into_one_result(retriever):
    passages = retriever.search("US allies seeking Pakistan support for the UNGA resolution", k=5)
    places = [(p.doc_id, *(d for d, _, _ in p.duplicates)) for p in passages]
    twin = {"000_c843eb08c4d7e257.txt", "001_066d803ddee4351a.txt"}
    merged = [docs for docs in places if twin <= set(docs)]
    assert merged, places
    for p in passages:
        for doc, start, end in p.duplicates:
            assert retriever.index.document_text(doc)[start:end]  # offsets into the twin's own text


def test_filters_by_date_and_document(retriever):
    dated = retriever.search("Pakistan Russia", k=10, where=SearchFilter(date_from="2022-01-01", date_to="2022-12-31"))
    assert dated and {p.date for p in dated} == {"2022-10-09"}
    only = retriever.search("Pakistan Russia", k=10, where=SearchFilter(docs=frozenset({"004_c0bc88ef037bc82c.txt"})))
    assert only and {p.doc_id for p in only} == {"004_c0bc88ef037bc82c.txt"}
    assert retriever.search("Pakistan Russia", where=SearchFilter(date_from="2030-01-01")) == []


def test_bad_options_are_refused(retriever):
    with pytest.raises(ValueError, match="unknown retrieval mode"):
        retriever.search("Putin", mode="fuzzy")
    with pytest.raises(ValueError, match="at least 1"):
        retriever.search("Putin", k=0)


def test_a_question_of_stop_words_only_still_gets_dense_results(retriever):
    assert retriever.search("what is it?", mode="bm25") == []
    assert len(retriever.search("what is it?", k=2)) == 2


def test_reciprocal_rank_fusion_sums_inverse_ranks():
    fused = reciprocal_rank_fusion([[(7, 0.9), (3, 0.5)], [(3, 12.0), (9, 4.0)]], k=60)
    assert [row for row, _ in fused] == [3, 7, 9]
    assert fused[0][1] == pytest.approx(1 / 62 + 1 / 61)
    assert fused[1][1] == pytest.approx(1 / 61)
