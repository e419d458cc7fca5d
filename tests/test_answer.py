"""The answerer with the shipped reader: verbatim spans, citations, several answers, abstention.

The articles are written here, so no question below comes from a gold set.
"""
from __future__ import annotations

import pytest

from conftest import STORES, store_config
from rag.answer import Answerer
from rag.ingest import load_documents
from rag.reader.model import Reader
from rag.store import Index, build_index

FERRY = """Kelbrook ferry sets passenger record

March 14, 2023

The Kelbrook ferry carried a record 912 passengers on Sunday, the operator Northsea Lines said.
Its new captain, Marta Lindqvist, took over the route in March 2021 after twenty years at sea.
Adult tickets now cost £14 because fuel prices rose sharply last winter.
The crossing to Harlow Island takes about forty minutes in good weather.
"""
BRIDGE = """Harlow bridge plan shelved

June 2, 2023

The county council has shelved plans for a road bridge to Harlow Island, citing a cost of £310 million.
Council leader Tomas Berg said the money would instead go to repairing the harbour wall at Kelbrook.
Work on the harbour wall is expected to start in September and last two years.
"""
# a near-copy of FERRY, as when the same story is filed twice
FERRY_AGAIN = FERRY.replace("Kelbrook ferry sets passenger record", "Record day for Kelbrook ferry")


@pytest.fixture(scope="module", params=STORES)
def answerer(request, tmp_path_factory, embedder) -> Answerer:
    """Three harbour articles indexed into each chunk store; the answers must not depend on it."""
    corpus = tmp_path_factory.mktemp("harbour")
    for name, text in {"ferry.txt": FERRY, "bridge.txt": BRIDGE, "ferry-again.txt": FERRY_AGAIN}.items():
        (corpus / name).write_text(text, encoding="utf-8")
    index_dir = corpus / "index"
    build_index(load_documents([corpus]).documents, index_dir, embedder, store_config(request.param, corpus))
    answerer = Answerer(Index.open(index_dir), embedder).warm_up()
    yield answerer
    answerer.index.close()


@pytest.mark.parametrize("question, expected", [
    ("Who is the new captain of the ferry?", "Marta Lindqvist"),
    # a known miss of the shipped reader (docs/reader.md, 2026-12-04): it takes "£14", the ferry
    # fare, from the article whose sentences name Harlow Island and a cost. Strict: a reader that
    # answers it makes this fail, so that the mark goes
    pytest.param("How much would the Harlow Island bridge have cost?", "£310 million",
                 marks=pytest.mark.xfail(strict=True, reason="the shipped reader answers the ferry fare")),
    ("When is work on the harbour wall expected to start?", "September"),
])
def test_an_answer_is_a_verbatim_span_of_its_cited_article(answerer, question, expected):
    answer = answerer.ask(question)
    assert not answer.abstained and expected in answer.answer
    assert len(answer.answer) <= len(expected) + 20, "a short answer, not the sentence"
    first = answer.citations[0]
    text = answerer.index.document_text(first.doc)
    assert text[answer.answer_span.start : answer.answer_span.end] == answer.answer
    assert first.quote == text[first.start : first.end] == answer.sentence
    assert first.start <= answer.answer_span.start < answer.answer_span.end <= first.end
    assert 0.0 < answer.confidence <= 1.0 and answer.reader["sha256"] == answerer.reader.sha256


def test_the_same_story_filed_twice_is_cited_twice(answerer):
    answer = answerer.ask("How many passengers did the Kelbrook ferry carry on Sunday?")
    assert "912" in answer.answer
    assert {c.doc for c in answer.citations} >= {"ferry.txt", "ferry-again.txt"}
    for citation in answer.citations:
        assert answerer.index.document_text(citation.doc)[citation.start : citation.end] == citation.quote
        assert answer.answer in citation.quote


def test_several_answers_are_distinct_and_each_is_cited(answerer):
    answer = answerer.ask("When is work on the harbour wall expected to start?", answers=3, threshold=0.0)
    given = [answer, *answer.alternatives]
    assert 2 <= len(given) <= 3
    texts = [a.answer for a in given]
    assert len(set(texts)) == len(texts)
    assert [a.confidence for a in given] == sorted((a.confidence for a in given), reverse=True)
    for alternative in given:
        first = alternative.citations[0]
        assert answerer.index.document_text(first.doc)[first.start : first.end] == first.quote
        assert alternative.answer in first.quote
    assert [a["answer"] for a in answer.to_dict()["alternatives"]] == texts[1:]


@pytest.mark.parametrize("question", ["Who won the 2018 Tour de France?", "What is the boiling point of mercury?"])
def test_a_question_the_articles_do_not_answer_is_declined(answerer, question):
    answer = answerer.ask(question)
    assert answer.abstained and answer.answer is None and answer.citations == []
    assert answer.message.startswith("The articles don't say")
    assert answer.passages, "related reading is still listed"
    assert 0.0 <= answer.confidence < answerer.threshold


def test_a_follow_up_is_read_with_the_previous_question(answerer):
    answer = answerer.ask("How much would it have cost?", ["Which bridge plan did the county council shelve?"])
    assert answer.answer == "£310 million"


def test_the_threshold_withholds_and_the_default_comes_from_the_checkpoint(answerer):
    assert answerer.threshold == Reader().metadata["combiner"]["threshold"]
    question = "Who is the new captain of the ferry?"
    assert answerer.ask(question, threshold=1.01).abstained
    assert not answerer.ask(question, threshold=0.0).abstained


def test_a_keyword_search_answers_with_the_features_the_confidence_was_fitted_on(answerer):
    hybrid = answerer.ask("Who is the new captain of the ferry?")
    keyword = answerer.ask("Who is the new captain of the ferry?", mode="bm25")
    # BM25 gives no cosines of its own; the answerer fills them in rather than reading them as 0
    assert keyword.answer == hybrid.answer == "Marta Lindqvist"
    assert 0.3 < keyword.evidence["passage_dense"] <= keyword.evidence["top_dense"]
    assert all(p.dense_score is not None for p in keyword.passages)


def test_ask_is_ask_batch_of_one(answerer):
    question = "Why do adult tickets cost more now?"
    single = answerer.ask(question).to_dict()
    [batched] = answerer.ask_batch([question], [[]])
    batched = batched.to_dict()
    for record in (single, batched):
        record.pop("timings_ms")
    assert single == batched


def test_json_record_has_the_documented_fields(answerer):
    record = answerer.ask("Who leads the county council?").to_dict()
    assert set(record) >= {"question", "answer", "sentence", "abstained", "confidence", "citations", "passages",
                           "timings_ms", "alternatives", "reader", "evidence"}
    assert set(record["passages"][0]) == {"doc", "title", "date", "start", "end", "text", "score"}
    assert set(record["timings_ms"]) == {"retrieve", "answer", "total"}
    assert 0.0 <= record["confidence"] <= 1.0


@pytest.mark.parametrize("question, message", [
    ("", "empty"), ("   \n ", "empty"), ("why " * 2500, "limit is"), ("Кто капитан парома?", "not in English"),
])
def test_bad_questions_get_a_clear_error(answerer, question, message):
    answer = answerer.ask(question)
    assert answer.error and message in answer.error
    assert answer.to_dict()["error"] == answer.error and answer.answer is None


def test_a_long_history_item_is_refused_like_a_long_question(answerer):
    answer = answerer.ask("And when?", ["x" * 5000])
    assert answer.error and "history item 1" in answer.error


def test_bad_options_are_refused(answerer):
    with pytest.raises(ValueError, match="k must be at least 1"):
        answerer.ask("Who is the new captain of the ferry?", k=0)
    with pytest.raises(ValueError, match="answers must be at least 1"):
        answerer.ask("Who is the new captain of the ferry?", answers=0)
