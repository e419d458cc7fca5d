"""Sentence splitting and chunking keep exact offsets into the original text."""
from __future__ import annotations

from rag.chunking import chunk_document, document_sentences, split_sentences
from rag.config import ChunkingConfig
from rag.ingest import make_document
from rag.types import Span


def test_sentences_respect_abbreviations_and_quotes():
    text = "Mr. Khan met Gen. Bajwa in the U.S. on Monday. He said: “We will talk.” Talks ended at 5 p.m. Then they left!"
    sentences = [text[s.start : s.end] for s in split_sentences(text, Span(0, len(text)))]
    assert sentences == [
        "Mr. Khan met Gen. Bajwa in the U.S. on Monday.",
        "He said: “We will talk.”",
        "Talks ended at 5 p.m. Then they left!",
    ]


def test_chunks_are_exact_slices_with_their_sentences(sample_documents, embedder):
    config = ChunkingConfig()
    for document in sample_documents:
        chunks = chunk_document(document, config, embedder.count_tokens)
        assert chunks, document.id
        for chunk in chunks:
            assert chunk.text == document.text[chunk.start : chunk.end]
            assert chunk.sentences[0].start == chunk.start and chunk.sentences[-1].end == chunk.end
            for sentence in chunk.sentences:
                assert chunk.start <= sentence.start < sentence.end <= chunk.end
                assert document.text[sentence.start : sentence.end].strip() == document.text[sentence.start : sentence.end]


def test_chunks_stay_within_the_token_budget(sample_documents, embedder):
    config = ChunkingConfig(max_tokens=60, overlap_sentences=1)
    for document in sample_documents:
        for chunk in chunk_document(document, config, embedder.count_tokens):
            pieces = embedder.count_tokens([document.text[s.start : s.end] for s in chunk.sentences])
            assert sum(pieces) <= config.max_tokens or len(chunk.sentences) == 1
            assert all(p <= config.max_tokens for p in pieces)


def test_consecutive_chunks_overlap_by_one_sentence(sample_documents, embedder):
    chunks = chunk_document(sample_documents[2], ChunkingConfig(max_tokens=80, overlap_sentences=1), embedder.count_tokens)
    assert len(chunks) > 2
    for before, after in zip(chunks, chunks[1:]):
        if len(before.sentences) > 1:  # a single over-full sentence cannot be shared
            assert before.sentences[-1] == after.sentences[0]
        assert after.start > before.start


def test_overlong_sentence_is_cut_into_word_aligned_pieces(embedder):
    sentence = " ".join(f"word{i}" for i in range(400)) + "."
    document = make_document("long.txt", "A headline here\n\n" + sentence, "long.txt")
    chunks = chunk_document(document, ChunkingConfig(max_tokens=100, overlap_sentences=0), embedder.count_tokens)
    covered = " ".join(document.text[s.start : s.end] for c in chunks for s in c.sentences)
    assert covered.split() == ("A headline here " + sentence).split()
    assert all(n <= 100 for c in chunks for n in embedder.count_tokens([s for s in [c.text]]) if len(c.sentences) > 1)


def test_boilerplate_never_reaches_a_chunk(sample_documents, embedder):
    for document in sample_documents:
        for chunk in chunk_document(document, ChunkingConfig(), embedder.count_tokens):
            for junk in ("Latest from", "Next Story", "Leave a Reply", "LEAVE A REPLY", "cookies", "ALSO READ", "Also read"):
                assert junk not in chunk.text


def test_document_sentences_follow_the_body(sample_documents):
    document = sample_documents[0]
    sentences = document_sentences(document)
    assert document.text[sentences[0].start : sentences[0].end] == "US, allies pushing Pakistan to vote against Russia at UN"
    assert sentences == sorted(sentences, key=lambda s: s.start)


def test_splitting_a_huge_text_takes_one_pass():
    # 500 KB of sentences: each full stop looks back a few characters for an abbreviation, not
    # to the start of the text; a run of 50,000 dots is read once, not once per dot
    text = "Mr. Khan met the mayor at 5 p.m. on Monday. " * 11_000 + "." * 50_000 + " Then they left."
    sentences = [text[s.start : s.end] for s in split_sentences(text, Span(0, len(text)))]
    assert len(sentences) == 11_001
    assert sentences[0] == "Mr. Khan met the mayor at 5 p.m. on Monday."
    assert sentences[-1] == "Then they left."


def test_a_word_longer_than_any_abbreviation_ends_a_sentence():
    text = "The ferry is named " + "x" * 60 + ". It sails at dawn."
    sentences = [text[s.start : s.end] for s in split_sentences(text, Span(0, len(text)))]
    assert sentences == ["The ferry is named " + "x" * 60 + ".", "It sails at dawn."]
