"""Turning a sentence into a question about one of its phrases (the generator's core; see synth).

* ``candidates(sentence)``: the answer candidates of a parsed sentence — named entities (PERSON,
  ORG, GPE/LOC, NORP, EVENT, WORK_OF_ART, PRODUCT), numbers (MONEY with its currency sign,
  PERCENT, QUANTITY, a CARDINAL that counts a noun), dates (DATE/TIME), the noun phrase object
  of a verb, and reasons ("because ..." / "because of ...").
* ``write_question(sentence, candidate, rng)``: the answer's *unit* (the phrase holding it, up
  to the nearest verb) is replaced by a wh-phrase for the answer's type (who, which company,
  where, when, how much, how many NOUN, what percentage, why, what) and moved to the front. The
  rest of the clause is reordered: a subject unit keeps the word order; otherwise the first
  auxiliary (or "be") is inverted with the subject, or do-support is added and the verb becomes
  its lemma. Commas, subordinate/relative/coordinated clauses and appositions are dropped, some
  modifiers and prepositional phrases are dropped at random, and a few words are swapped for
  synonyms, so that copying the sentence does not pay.
* ``acceptable(question, answer, kind)``: questions over 20 words, containing the answer, or
  whose answer is longer than 8 words (reasons: 20) are skipped; so are, with
  ``min_content_words``, questions with fewer words outside spaCy's English stop words ("What do
  they have?" singles out no answer in a window of several sentences).

The word lists below are general English (auxiliaries, dependency labels, common synonyms, the
nouns that tell a business or sport context); none comes from an evaluation question.
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Sequence, Union

from spacy.lang.en.stop_words import STOP_WORDS
from spacy.tokens import Doc, Span as SpacySpan, Token

Item = Union[Token, str]
MAX_QUESTION_WORDS, MAX_ANSWER_WORDS, MAX_REASON_WORDS = 20, 8, 20
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


def candidates(sentence: Doc) -> list[Candidate]:
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


def write_question(sentence: Doc, cand: Candidate, rng: random.Random) -> str | None:
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


def content_words(text: str) -> int:
    """How many words of ``text`` are not English stop words (spaCy's list)."""
    return sum(w not in STOP_WORDS for w in re.findall(r"[\w'-]+", text.lower()))


def acceptable(question: str | None, answer: str, kind: str, min_content_words: int = 0) -> bool:
    if question is None or len(question.split()) > MAX_QUESTION_WORDS or len(question.split()) < 4:
        return False
    if min_content_words and content_words(question) < min_content_words:
        return False
    limit = MAX_REASON_WORDS if kind == "reason" else MAX_ANSWER_WORDS
    if not 0 < len(answer.split()) <= limit or answer.lower() in question.lower():
        return False
    answer_words = {w for w in re.findall(r"\w+", answer.lower()) if len(w) > 2}
    shared = answer_words & set(re.findall(r"\w+", question.lower()))
    return len(shared) <= len(answer_words) / 2
