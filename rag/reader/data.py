"""Training and validation examples for the reader: SQuAD 2.0 files and generated questions."""
from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

# the version of rag.reader.synth's output under its defaults (here, not there: reading it must
# not load spaCy), bumped whenever that output changes so that a cached set is not reused
# stale. 4: the defaults give version 1's output again (2 and 3 were trials)
GENERATOR_VERSION = 4


@dataclass(frozen=True)
class ReaderExample:
    """One question over one context window.

    ``answer_start`` is a character offset into ``context`` and ``answer_text`` the answer
    copied from it; both are None when the context does not answer the question (the
    no-answer signal). ``group`` names the article, so splits keep whole articles apart.
    """

    qid: str
    question: str
    context: str
    answer_start: int | None
    answer_text: str | None
    group: str
    source: str  # "squad" or "synthetic"

    @property
    def answerable(self) -> bool:
        return self.answer_start is not None

    def to_dict(self) -> dict:
        return {
            "qid": self.qid, "question": self.question, "context": self.context,
            "answer_start": self.answer_start, "answer_text": self.answer_text,
            "group": self.group, "source": self.source,
        }

    @classmethod
    def from_dict(cls, record: dict) -> "ReaderExample":
        return cls(**{k: record.get(k) for k in (
            "qid", "question", "context", "answer_start", "answer_text", "group", "source")})


def read_squad(path: Path | str) -> Iterator[ReaderExample]:
    """Every question of a SQuAD 2.0 JSON file over its paragraph; the first gold answer is
    the target, unanswerable questions have none. ``group`` is the article title."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))["data"]
    for article in data:
        for paragraph in article["paragraphs"]:
            context = paragraph["context"]
            for qa in paragraph["qas"]:
                answers = [] if qa.get("is_impossible") else qa.get("answers", [])
                first = answers[0] if answers else None
                yield ReaderExample(
                    qid=qa["id"], question=qa["question"], context=context,
                    answer_start=first["answer_start"] if first else None,
                    answer_text=first["text"] if first else None,
                    group=article["title"], source="squad",
                )


def write_examples(examples, path: Path | str) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        for example in examples:
            handle.write(json.dumps(example.to_dict(), ensure_ascii=False) + "\n")


def read_examples(path: Path | str) -> list[ReaderExample]:
    with open(path, encoding="utf-8") as handle:
        return [ReaderExample.from_dict(json.loads(line)) for line in handle if line.strip()]


def retrieved_negatives(examples: Sequence[ReaderExample], share: float, seed: int,
                        candidates: int = 20) -> list[ReaderExample]:
    """No-answer examples made of the contexts keyword retrieval would show the reader.

    At answer time the reader reads several retrieved passages, most of which do not answer the
    question; trained only on its gold window it finds confident spans in them. For a seeded
    ``share`` of the answerable ``examples``: the question over the best BM25 match (the index's
    own terms, ``rag.stores.terms``) among the other contexts of the same source that do not
    contain its answer text. Only ``examples`` are searched, so validation articles left out of
    them stay out.
    """
    if share <= 0:
        return []
    import bm25s

    from rag.stores.terms import bm25_tokens

    rng = random.Random(seed)
    chosen = [e for e in examples if e.answerable and rng.random() < share]
    out: list[ReaderExample] = []
    for source in sorted({e.source for e in chosen}):
        pool = sorted({e.context for e in examples if e.source == source})
        asked = [e for e in chosen if e.source == source]
        if len(pool) < 2:
            continue
        index = bm25s.BM25()
        index.index(bm25_tokens(pool), show_progress=False)
        hits, _ = index.retrieve(bm25_tokens([e.question for e in asked]), k=min(candidates, len(pool)),
                                 show_progress=False, n_threads=1)
        for example, row in zip(asked, hits):
            answer = example.answer_text.casefold()
            context = next((pool[i] for i in row if pool[i] != example.context and answer not in pool[i].casefold()), None)
            if context is not None:
                out.append(ReaderExample(f"{example.qid}-retrieved", example.question, context, None, None,
                                         example.group, example.source))
    return out


def question_examples(questions: Path | str, corpus: Path | str) -> list[ReaderExample]:
    """People's questions (a gold-format JSONL file whose records name the ``article`` they were
    written over) as training examples over the whole text of that article, as the reader meets
    an archive: its windows that hold the answer teach the span, the others — and every window
    of an unanswerable question — the no-answer score. The target is the first occurrence of the
    first gold answer; a question whose answer is not in its article's text is an error."""
    from rag.gold import GoldFormatError, question_article, read_questions
    from rag.ingest import load_documents

    texts = {d.id: d.text for d in load_documents([corpus]).documents}
    examples = []
    for gold in read_questions(questions, gold=True):
        article = question_article(gold)
        if article not in texts:
            raise GoldFormatError(f'{questions}: question {gold["id"]!r} needs an "article" of {corpus}, got {article!r}')
        context = texts[article]
        answer = gold["answers"][0] if gold["answers"] else None
        start = context.find(answer) if answer else None
        if start == -1:
            raise GoldFormatError(f'{questions}: the answer {answer!r} of question {gold["id"]!r} is not in {article}')
        examples.append(ReaderExample(f"people-{gold['id']}", gold["question"], context, start, answer, article, "people"))
    return examples
