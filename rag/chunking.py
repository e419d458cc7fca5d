"""Split a document's body into sentences and sentence-aware chunks that keep character offsets."""
from __future__ import annotations

import re
from typing import Callable, Iterator, Sequence

from rag.config import ChunkingConfig
from rag.types import Chunk, Document, Span

TokenCounter = Callable[[Sequence[str]], list[int]]

_ABBREVIATIONS = frozenset(
    """mr mrs ms dr prof st gen lt col sgt capt cmdr adm sen rep gov pres jr sr rev hon messrs
    vs etc e.g i.e u.s u.k u.n a.m p.m no nos inc ltd co corp dept est fig approx
    jan feb mar apr jun jul aug sep sept oct nov dec""".split()
)
# End punctuation, closing quotes or brackets, then white space and what may open a sentence.
# A match starts only where a run of end punctuation starts: tried at every dot of a long run
# ("........"), the greedy run would be re-read from each one, quadratic in the run's length.
_BOUNDARY = re.compile(r"(?<![.!?…])[.!?…]+[\"”’')\]]*\s+(?=[\"“‘'(\[]?[A-Z0-9])")
# No abbreviation is longer than this: the word before a full stop is looked for only this far
# back, so each full stop costs the same however long the text before it.
_LONGEST_WORD = 40


def _is_abbreviation(text: str, dot_end: int) -> bool:
    window_start = max(0, dot_end - _LONGEST_WORD)
    window = text[window_start:dot_end]
    words = window.split()
    if not words:
        return False
    if len(words) == 1 and window_start > 0 and not window[0].isspace() and not text[window_start - 1].isspace():
        return False  # the word runs on before the window: longer than any abbreviation
    word = words[-1].rstrip(".").lstrip("(\"“‘'").lower()
    # single initials ("J. Smith") and listed abbreviations do not end a sentence
    return word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha())


def split_sentences(text: str, span: Span) -> list[Span]:
    """Sentences of ``text[span.start:span.end]`` as spans of ``text``, outer white space trimmed."""
    sentences: list[Span] = []
    start = span.start
    for match in _BOUNDARY.finditer(text, span.start, span.end):
        punctuation_end = match.start() + len(match.group(0).rstrip())
        if text[match.start()] == "." and _is_abbreviation(text, match.start() + 1):
            continue
        sentences.append(Span(start, punctuation_end))
        start = match.end()
    if start < span.end:
        sentences.append(Span(start, span.end))
    return [s for s in sentences if text[s.start : s.end].strip()]


def _split_long(text: str, sentence: Span, count: int, max_tokens: int) -> list[Span]:
    """Cut a sentence longer than the model reads into word-aligned pieces of similar size."""
    pieces = -(-count // max_tokens)
    words = [m.span() for m in re.finditer(r"\S+", text[sentence.start : sentence.end])]
    per_piece = -(-len(words) // pieces)
    return [
        Span(sentence.start + words[i][0], sentence.start + words[min(i + per_piece, len(words)) - 1][1])
        for i in range(0, len(words), per_piece)
    ]


def document_sentences(document: Document) -> list[Span]:
    """Every sentence of the document's body, in order."""
    return [s for line in document.body for s in split_sentences(document.text, line)]


def _windows(counts: Sequence[int], max_tokens: int, overlap: int) -> Iterator[tuple[int, int]]:
    """Greedy [first, last) sentence windows under ``max_tokens``, consecutive windows sharing
    ``overlap`` sentences."""
    first, n = 0, len(counts)
    while first < n:
        last, total = first, 0
        while last < n and (last == first or total + counts[last] <= max_tokens):
            total += counts[last]
            last += 1
        yield first, last
        if last >= n:
            return
        first = max(last - overlap, first + 1)


def chunk_document(document: Document, config: ChunkingConfig, count_tokens: TokenCounter) -> list[Chunk]:
    """Cut a document into chunks of whole sentences, each within ``config.max_tokens`` word pieces.

    Args:
        document: the article; only its body spans are chunked.
        config: chunk size and overlap.
        count_tokens: word pieces of each text, from the embedding model's tokenizer.
    Returns:
        Chunks in document order; ``chunk.text == document.text[chunk.start:chunk.end]``.
    """
    text = document.text
    sentences: list[Span] = []
    counts: list[int | None] = []  # word pieces of each sentence; None for a piece not yet counted
    raw = document_sentences(document)
    for sentence, count in zip(raw, count_tokens([text[s.start : s.end] for s in raw])):
        if count > config.max_tokens:
            pieces = _split_long(text, sentence, count, config.max_tokens)
            sentences.extend(pieces)
            counts.extend([None] * len(pieces))
        else:
            sentences.append(sentence)
            counts.append(count)
    uncounted = [i for i, count in enumerate(counts) if count is None]
    for i, count in zip(uncounted, count_tokens([text[sentences[i].start : sentences[i].end] for i in uncounted])):
        counts[i] = count
    chunks = []
    at = 0  # each sentence is tokenized once: runs take their counts in order
    for run in _contiguous_runs(text, sentences):
        run_counts, at = counts[at : at + len(run)], at + len(run)
        for first, last in _windows(run_counts, config.max_tokens, config.overlap_sentences):
            members = tuple(run[first:last])
            start, end = members[0].start, members[-1].end
            if end - start < config.min_chunk_chars and chunks:
                continue
            chunks.append(Chunk(document.id, start, end, text[start:end], members))
    return chunks


def _contiguous_runs(text: str, sentences: list[Span]) -> list[list[Span]]:
    """Sentences grouped so that only white space lies between neighbours: a chunk is one
    slice of the original text, so it must not reach across boilerplate left out of the body."""
    runs: list[list[Span]] = []
    for sentence in sentences:
        if runs and not text[runs[-1][-1].end : sentence.start].strip():
            runs[-1].append(sentence)
        else:
            runs.append([sentence])
    return runs
