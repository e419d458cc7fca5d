"""What a question asks for, and the shortest span of a sentence that gives it."""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Iterable

# Words that carry no content of their own when matching a question against a sentence.
STOPWORDS = frozenset(
    """a an the of to in on at by for with from into about as and or but if then than that this these
    those is are was were be been being has have had do does did will would shall should can could may
    might must it its he him his she her they them their we us our you your i me my who whom whose what
    which when where why how there here not no nor so such also any some all each every both either
    neither one ones many much more most other others same own only very just over under again after
    before while during since until up down out off per via s t according""".split()
)


@dataclass(frozen=True)
class AnswerType:
    """What kind of span answers a question.

    ``kind``: person, time, duration, count, amount, place, organization, name (of anything),
    thing (a "which NOUN" question: ``noun`` names the thing), quote, clause or sentence. ``labels`` are the spaCy
    entity labels that can answer, best first. ``plural``: the question asks for several.
    """

    kind: str
    labels: tuple[str, ...] = ()
    noun: str | None = None
    plural: bool = False


_NOUN = r"(?P<noun>[a-z][a-z-]+)"
_TYPE_RULES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (r"\bhow long\b|\bfor how many (?:hours|days|weeks|months|years)\b", "duration", ("TIME", "DATE", "QUANTITY")),
    (r"\bhow much (?:money|did|does|is|was|will|has|have)\b|\b(?:what|which) (?:[a-z]+ )?(?:amount|sum|price|reward|bounty|fine|fee|salary|budget|cost|prize)\b", "amount", ("MONEY", "QUANTITY", "CARDINAL", "PERCENT")),
    (r"\b(?:how (?:many|much)|what number of)\b(?:\s+" + _NOUN + r")?", "count", ("CARDINAL", "QUANTITY", "MONEY", "PERCENT")),
    (r"\b(?:what|which) (?:(?:is|was|are|were) the )?(?:[a-z-]+ )?(?:percentage|percent|proportion)\b", "count", ("PERCENT", "CARDINAL")),
    (r"\b(?:what|how) (?:is|was|are|were) the (?:length|distance|height|width|depth|area|size|population|weight|speed|capacity)\b"
     r"|\bin (?:kilomet|km|miles|met(?:re|er)s|feet|tonnes|tons|kilograms|kg)", "count", ("QUANTITY", "CARDINAL")),
    (r"\b(?:what|how) (?:is|was|are|were) the (?:value|cost|price)\b|\bin (?:dollars|euros|pounds|rupees)\b", "amount", ("MONEY", "CARDINAL")),
    (r"\bwhen\b|\b(?:what|which) (?P<noun>year|date|day|month|time|century|decade|period)s?\b|\bhow old\b", "time", ("DATE", "TIME")),
    (r"\bwhere\b|\b(?:what|which) (?:[a-z-]+ )?(?:(?:city|country|countries|cities|place|region|state|capital|town|province|continent|location|nation)s?)\b"
     r"|\b(?:what|which) (?:is|was|are|were) the (?:[a-z-]+ )?(?:city|country|capital|town|province|continent)\b", "place", ("GPE", "LOC", "FAC")),
    (r"\bwhat (?:is|was|are|were) (?:the |their |its |his |her )?names? of\b|^name (?:a|an|the|one|some)\b", "name",
     ("PERSON", "ORG", "GPE", "LOC", "FAC", "NORP", "EVENT", "WORK_OF_ART", "LAW", "PRODUCT")),
    (r"\b(?:what|which) (?:organi[sz]ation|agency|company|party|group|body|newspaper|paper|outlet|institution|department|ministry|bank|university|team|club)s?\b", "organization", ("ORG",)),
    (r"\b(?:what|which) (?:nationality|religion|ethnicity)\b", "organization", ("NORP",)),
    (r"\bwho(?:m|se)?\b|\b(?:what|which) (?:(?:[a-z-]+ ){0,2}(?:person|man|woman|leader|minister|president|official|spokesperson|spokesman|spokeswoman|chief|writer|author|diplomat|ambassador|general|king|queen|emperor|ruler|secretary|senator|governor|envoy|premier|prime minister)s?)\b", "person", ("PERSON", "ORG", "NORP")),
    (r"\b(?:what|which) (?:remark|statement|comment|words|message|phrase|slogan|quote|question)s?\b|\bwhat did\b.*\b(?:say|said|tell|told|warn|add|ask|asked|write|wrote|state|call|describe)\b|\bhow did\b.*\b(?:describe|call|term)\b|\bwhat (?:does|do)\b.*\bsay\b|\bwhat was said\b", "quote", ()),
    (r"\bwhy\b|\bfor what reason\b|\bhow did\b|\bhow does\b|\bhow do\b|\bwhat for\b", "clause", ()),
    (r"\b(?:which|what) (?:type|kind|sort|form|class|category|variety) of (?P<words>[a-z][a-z-]*)", "thing", ()),
    (r"\b(?:which|what) (?P<words>[a-z][a-z-]*(?: [a-z][a-z-]*)?)", "thing", ()),
)
_PERSON_ROLE = re.compile(r"\b(?:person|man|woman|leader|minister|president|official|spokesperson|spokesman|spokeswoman|writer|author|diplomat|ambassador|king|queen|emperor|ruler|secretary|senator|governor|envoy|premier|mayor|judge|chairman|ceo|founder|husband|wife|son|daughter|father|mother)s?\b")
_PLURAL_HINT = re.compile(r"\b(?:which|what) (?:[a-z]+ )?(?:countries|cities|nations|states|people|leaders|members|agreements|names|ones|parties|groups|organi[sz]ations)\b|\b(?:which|what) (?:dates|days)\b|\bwho (?:are|were)\b|\bwhich .*\bthose\b")


def answer_type(question: str) -> AnswerType:
    """The kind of answer ``question`` expects: the earliest wh-phrase in it decides."""
    lowered = " ".join(question.lower().split())
    best: tuple[tuple[int, bool, int, int], AnswerType] | None = None
    for order, (pattern, kind, labels) in enumerate(_TYPE_RULES):
        match = re.search(pattern, lowered)
        if not match or _relative_pronoun(lowered, match):
            continue
        groups = match.groupdict()
        noun = groups.get("noun") or _head_noun(groups.get("words"))
        if kind == "thing" and noun is None:
            continue
        if kind == "person" and _PERSON_ROLE.search(lowered):
            labels = ("PERSON",)  # "who is the ambassador": a person, not an organisation
        if kind == "name" and _PERSON_ROLE.match(lowered[match.end() :].removeprefix(" the ").strip()):
            kind, labels = "person", ("PERSON",)  # "the name of the author"
        found = AnswerType(kind, labels, noun, bool(_PLURAL_HINT.search(lowered)))
        # the earliest wh-phrase wins; at the same start a typed rule beats the generic
        # "which NOUN", then the longer, more specific match wins
        key = (match.start(), kind == "thing", -len(match.group(0)), order)
        if best is None or key < best[0]:
            best = (key, found)
    return best[1] if best else AnswerType("sentence")


def _relative_pronoun(question: str, match: re.Match) -> bool:
    """Whether a matched "who"/"which" opens a relative clause ("Huguenots who stayed") rather
    than asking: it follows a content word and another question word came first."""
    before = question[: match.start()].split()
    asked_earlier = any(w in ("what", "which", "when", "where", "how", "why", "who") for w in before)
    return bool(before) and asked_earlier and before[-1].strip(",") not in STOPWORDS


def _head_noun(words: str | None) -> str | None:
    """The noun of "which [MODIFIER] NOUN": both words of a compound ("membership bid"), else
    the first word; None when the first is a function word."""
    if not words:
        return None
    parts = words.split()
    if parts[0] in STOPWORDS:
        return None  # "what had Khan promised": an auxiliary, not "which NOUN"
    if len(parts) == 2 and parts[1] not in STOPWORDS:
        return words
    return parts[0]


@lru_cache(maxsize=1)
def _stem_words() -> Any:
    import Stemmer

    return Stemmer.Stemmer("english").stemWords


def content_stems(question: str, history: Iterable[str] = ()) -> dict[str, float]:
    """Stems of the content words of a question (weight 1) and of its history (weight 0.3)."""
    weights: dict[str, float] = {}
    for text, weight in [(question, 1.0), *((h, 0.3) for h in history)]:
        words = [w for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in STOPWORDS]
        for stem in _stem_words()(words):
            weights[stem] = max(weights.get(stem, 0.0), weight)
    return weights


_TOKEN = re.compile(r"[\w$£€%]+(?:[-’'.,][\w%]+)*")
_NUMBER_WORD = r"(?:\d[\d,.]*|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|forty|fifty|hundred|thousand|several|a few|half)"
# Durations and counts the NER model misses or labels loosely ("three-hour", "two-line").
_DURATION = re.compile(rf"\b{_NUMBER_WORD}[- ](?:minute|hour|day|week|month|year|decade|line|page|word)s?(?:[- ]long)?\b", re.I)
_DURATION_UNIT = re.compile(r"\b(?:minute|hour|day|week|month|year|decade|century|centuries)s?\b|-(?:minute|hour|day|week|month|year)\b", re.I)
_NUMBER = re.compile(r"(?<![\w$£€])(?:[$£€])?\d[\d,.]*(?:\s?(?:million|billion|trillion|percent|%))?(?!\w)")
_CURRENCY = re.compile(r"(?:dollar|rupee|euro|pound|yuan|yen)s?", re.I)
_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*"
# a day of the calendar ("23-24 February", "January 18, 1974", "Thursday"), not a bare year
_DAY_DATE = re.compile(rf"\b{_MONTH}\.? \d{{1,2}}\b|\b\d{{1,2}}(?:\s?[-–]\s?\d{{1,2}})? {_MONTH}\b|\b(?:mon|tues|wednes|thurs|fri|satur|sun)days?\b", re.I)
# a span that gives several things: a list or a range
_SEVERAL = re.compile(r",|\band\b|\d\s?[-–]\s?\d")
_MONTH_OR_YEAR = re.compile(r"\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\b|\b(?:1[6-9]|20)\d\d\b", re.I)
_PLACE_AFTER = re.compile(r"\b(?:in|at|to|from)\s+((?:[A-Z][a-z]+)(?:\s[A-Z][a-z]+){0,2})")
_QUOTE = re.compile(r"[“\"]([^”\"]{8,}?)[,.]?[”\"]")
# a quotation that opens in this sentence and closes in a later one
_OPEN_QUOTE = re.compile(r"“([^”]{8,}?)[,.]?\s*$")
_CLAUSE = re.compile(r"\b(?:because|since|so that|in order to|insisting that|due to|as it|as they|as he|as she)\b", re.I)


# Span scoring: each step down the answer type's label list costs this much; each unit of
# proximity to the question's words earns this much (fitted on the public SQuAD file).
SPAN_LABEL_PENALTY = 0.02
SPAN_PROXIMITY_WEIGHT = 0.04


@dataclass(frozen=True)
class SpanChoice:
    """A span of a sentence (offsets relative to the sentence) and how well it fits."""

    start: int
    end: int
    score: float
    typed: float  # 1: a span of the asked kind was found; 0.5: only a fallback kind; 0: none


def _tokens(sentence: str) -> list[tuple[int, int, str]]:
    return [(m.start(), m.end(), m.group(0)) for m in _TOKEN.finditer(sentence)]


_POSSESSIVE = re.compile(r"[’']s$")


def _stem(word: str) -> str:
    """The stem of a token, its possessive dropped ("India’s" is "india")."""
    return _stem_words()([_POSSESSIVE.sub("", word.lower())])[0]


def _token_stems(tokens: list[tuple[int, int, str]]) -> list[str]:
    return [_stem(t[2]) for t in tokens]


def _noun_stems(kind: AnswerType) -> set[str]:
    """Stems of the noun a "which NOUN" question names: a compound ("membership bid") gives both."""
    return {_stem(word) for word in (kind.noun or "").split()}


def _quotations(sentence: str) -> list[re.Match]:
    """Quotations in a sentence, the one left open at its end included."""
    closed = list(_QUOTE.finditer(sentence))
    tail = _OPEN_QUOTE.search(sentence, closed[-1].end() if closed else 0)
    return closed + ([tail] if tail else [])


def ends_in_open_quotation(sentence: str) -> bool:
    """Whether a quotation opens in ``sentence`` and runs on past its end."""
    quotations = _quotations(sentence)
    return bool(quotations) and quotations[-1].re is _OPEN_QUOTE


def type_hint(sentence: str, kind: AnswerType) -> float:
    """Cheap evidence, before NER, that a sentence holds a span of the wanted kind."""
    if kind.kind in ("count", "amount"):
        return 1.0 if _NUMBER.search(sentence) or re.search(rf"\b{_NUMBER_WORD}\b", sentence, re.I) else 0.0
    if kind.kind == "duration":
        return 1.0 if _DURATION.search(sentence) else 0.0
    if kind.kind == "time" and kind.noun in ("date", "day"):
        return 1.0 if _DAY_DATE.search(sentence) else 0.0
    if kind.kind == "time":
        return 1.0 if _MONTH_OR_YEAR.search(sentence) or re.search(r"\b(?:mon|tues|wednes|thurs|fri|satur|sun)day\b", sentence, re.I) else 0.0
    if kind.kind == "quote":
        return 1.0 if _quotations(sentence) else 0.0
    if kind.kind == "clause":
        return 1.0 if _CLAUSE.search(sentence) else 0.0  # a sentence that gives a reason
    if kind.kind == "thing" and kind.noun:
        return 1.0 if _noun_stems(kind) & set(_token_stems(_tokens(sentence))) else 0.0
    return 0.0


def choose_span(
    sentence: str,
    entities: Iterable[tuple[int, int, str]],
    kind: AnswerType,
    question_stems: dict[str, float],
    phrases: Iterable[tuple[int, int]] = (),
    arguments: Iterable[tuple[int, int]] = (),
) -> SpanChoice:
    """The shortest span of ``sentence`` that answers a question of ``kind``.

    Args:
        sentence: the answer sentence.
        entities: (start, end, label) of named entities in it (spaCy offsets in ``sentence``).
        kind: what the question asks for.
        question_stems: content-word stems of the question with their weights (history words
            weigh less), used to skip spans the question already names and to prefer spans
            next to the question's words.
        phrases: (start, end) of the sentence's noun phrases, candidates for "what" questions.
        arguments: (start, end) of what the question's verb takes in the sentence (see
            ``verb_arguments``): the answer to "what had Pakistan hoped?".
    Returns:
        The span; the whole sentence (``typed=0``) when nothing more precise fits.
    """
    whole = SpanChoice(0, len(sentence.rstrip()), 0.0, 0.0)
    entities = list(entities)
    phrases = list(phrases)
    if kind.kind == "quote":
        # the longest quotation is the statement; short ones are scare quotes (“regretted”)
        quote = max(_quotations(sentence), key=lambda m: len(m.group(1)), default=None)
        return SpanChoice(quote.start(1), quote.end(1), 0.02, 1.0) if quote else whole
    if kind.kind == "clause":
        clause = _CLAUSE.search(sentence)
        if clause and clause.start() > 10:
            return SpanChoice(clause.start(), len(sentence.rstrip(".”\"' ")), 0.02, 1.0)
        return whole
    if kind.kind == "thing":
        # a phrase that names the noun; else what the question's verb takes ("what policy
        # gave Britain dominance?" "[free trade] gave ..."); else a phrase merely beside it
        return (
            _thing_phrase(sentence, kind.noun or "", entities, phrases, question_stems, min_score=0.9)
            or _new_argument(sentence, arguments, question_stems)
            or _thing_phrase(sentence, kind.noun or "", entities, phrases, question_stems)
            or _closest_phrase(sentence, [(a, b) for a, b, _ in entities] + proper_names(sentence), question_stems)
            or _closest_phrase(sentence, phrases, question_stems)
            or whole
        )
    if kind.kind == "sentence":
        return _new_argument(sentence, arguments, question_stems) or _closest_phrase(sentence, phrases, question_stems) or whole
    if not kind.labels:
        return whole
    tokens = _tokens(sentence)
    stems = _token_stems(tokens)
    spans = [e for e in entities if e[2] in kind.labels]
    if kind.kind == "duration":
        # "Thursday" is a DATE but not a length of time
        spans = [e for e in spans if _DURATION_UNIT.search(sentence[e[0] : e[1]])]
        spans += [(m.start(), m.end(), kind.labels[0]) for m in _DURATION.finditer(sentence)]
    if kind.kind == "place":
        # capitalised names after "in"/"at" that the NER model left unlabelled ("in Multan")
        spans += [(m.start(1), m.end(1), "LOC") for m in _PLACE_AFTER.finditer(sentence)]
    if kind.kind in _NAME_KINDS:
        # names the NER model missed or mislabelled ("Jamaatud Dawa"), as a last resort; not a
        # number, nor, when a person is asked for, what it knows is something else ("Russia")
        other_kinds = [
            (a, b) for a, b, label in entities
            if label in _NOT_NAMES or (kind.kind == "person" and label not in kind.labels)
        ]
        spans += [
            (start, end, "NAME") for start, end in proper_names(sentence)
            if not _overlaps((start, end), other_kinds) and _stem(sentence[start:end].split()[-1]) not in _TITLES
        ]  # a run ending in a title ("the Pakistan PM") names an office, not its holder
    if kind.kind in ("count", "amount"):
        # numbers the NER model missed, but not the year of a date ("the 2016 Uri attack")
        # nor a sum of money when the question asks for a length or a size
        excluded = [(a, b) for a, b, label in entities if label in ("DATE", "TIME") and not _DURATION_UNIT.search(sentence[a:b])]
        if "MONEY" not in kind.labels:
            excluded += [(a, b) for a, b, label in entities if label == "MONEY"]
        numbers = [*_NUMBER.finditer(sentence), *re.finditer(rf"\b{_NUMBER_WORD}\b", sentence, re.I)]
        # "150" is part of "150 million", not an answer of its own
        numbers = [
            m for m in numbers
            if not any(o.start() <= m.start() and m.end() <= o.end() and o.end() - o.start() > m.end() - m.start() for o in numbers)
        ]
        spans += [
            (m.start(), m.end(), "CARDINAL") for m in numbers
            if not _overlaps((m.start(), m.end()), excluded) and ("MONEY" in kind.labels or m.group(0)[0] not in "$£€")
        ]
    if kind.kind == "time" and kind.noun in ("date", "day"):
        # "on what date" asks for a day of the calendar, not "2022" nor "23 years"
        spans = [e for e in spans if _DAY_DATE.search(sentence[e[0] : e[1]])]
    if kind.plural:
        spans = _merge_lists(sentence, spans)
    best: tuple[float, int, int, str] | None = None
    for start, end, label in spans:
        inside = [i for i, t in enumerate(tokens) if t[0] >= start and t[1] <= end]
        named = {stems[i] for i in inside} - _TITLES
        acronym = "".join(tokens[i][2][0] for i in inside if tokens[i][2][0].isupper()).lower()
        if not inside or (named and sum(question_stems.get(s, 0.0) > 0 for s in named) * 2 >= len(named)) or (
            len(acronym) > 2 and acronym in question_stems
        ) or _names_expansion(sentence, tokens, stems, inside, question_stems):
            continue  # the question already names it
        found_end = end
        start, end = _extend_with_noun(tokens, stems, inside, start, end, kind, question_stems)
        if label == "PERSON":
            # "William of Montreuil": the NER model often stops at "of"
            of_place = re.match(r" of [A-Z][\w-]+(?: [A-Z][\w-]+)*", sentence[end:])
            end += of_place.end() if of_place else 0
        first = inside[0]
        last = max(i for i, t in enumerate(tokens) if t[1] <= end)
        # the question's noun a count keeps ("three-hour [meeting]") is still next to it
        kept = [i for i, t in enumerate(tokens) if found_end < t[1] <= end] if end > found_end else []
        score = (
            0.10
            - SPAN_LABEL_PENALTY * (kind.labels.index(label) if label in kind.labels else len(kind.labels) + 3)
            + SPAN_PROXIMITY_WEIGHT * _proximity(stems, first, last, question_stems, kept)
            + (0.04 if kind.kind == "time" and _MONTH_OR_YEAR.search(sentence[start:end]) else 0.0)
            + (0.03 if kind.plural and _SEVERAL.search(sentence[start:end]) else 0.0)
            + (0.03 if kind.kind == "place" and first > 0 and tokens[first - 1][2].lower() in ("in", "at") else 0.0)
        )
        counts_other = (
            kind.kind == "count" and kind.noun is not None and end == found_end  # no counted noun kept
            and _counts_something_else(tokens, stems, last, question_stems)
        )
        weak = counts_other or label == "NAME" or label in _FALLBACK_LABELS.get(kind.kind, ())
        shorter = end - start < best[2] - best[1] if best else True
        if best is None or score > best[0] + 1e-9 or (abs(score - best[0]) < 1e-9 and shorter != kind.plural):
            best = (score, start, end, weak)
    if best is None:
        return whole
    return SpanChoice(best[1], best[2], best[0], 0.5 if best[3] else 1.0)


def _counts_something_else(tokens, stems, last: int, question_stems: dict[str, float]) -> bool:
    """Whether the number ending at token ``last`` counts a thing the question does not name:
    "after 23 [years]" for "how many cabinet ministers"."""
    if last + 1 >= len(tokens):
        return False
    word = tokens[last + 1][2]
    return word.islower() and word.isalpha() and word.endswith("s") and word not in STOPWORDS and stems[last + 1] not in question_stems


def _overlaps(span: tuple[int, int], others: Iterable[tuple[int, int]]) -> bool:
    return any(start < span[1] and span[0] < end for start, end in others)


def _names_expansion(sentence: str, tokens, stems: list[str], inside: list[int], question_stems: dict[str, float]) -> bool:
    """Whether a span is an acronym whose spelled-out form in the sentence the question names:
    "UNGA" after "United Nations General Assembly", asked about "the United Nations"."""
    if len(inside) != 1 or not re.fullmatch(r"[A-Z]{2,6}", tokens[inside[0]][2]):
        return False
    acronym = tokens[inside[0]][2].lower()
    for start, end in proper_names(sentence):
        words = [i for i, t in enumerate(tokens) if t[0] >= start and t[1] <= end and t[2][0].isupper()]
        if "".join(tokens[i][2][0] for i in words).lower() == acronym:
            return sum(question_stems.get(stems[i], 0.0) > 0 for i in words) * 2 >= len(words)
    return False


# Labels that may answer when nothing better is there, but make a weaker answer: a "who"
# question answered by an organisation or a nationality.
_FALLBACK_LABELS = {"person": frozenset({"ORG", "NORP"})}
_NAME_KINDS = ("person", "organization", "place", "name")
_NOT_NAMES = frozenset({"DATE", "TIME", "CARDINAL", "ORDINAL", "MONEY", "PERCENT", "QUANTITY"})
_PROPER_NAME = re.compile(r"[A-Z][\w’'.-]*(?:(?:\s+(?:of|de|von|van|al|bin|and)\s+|\s+)[A-Z][\w’'.-]*)*")


def proper_names(sentence: str) -> list[tuple[int, int]]:
    """Runs of capitalised words ("Jamaatud Dawa", "William of Montreuil"), leaving out a
    capitalised function word that merely opens the sentence."""
    names = []
    for match in _PROPER_NAME.finditer(sentence):
        start, words = match.start(), match.group(0).split()
        while words and words[0].lower() in STOPWORDS:
            start = sentence.index(words[1], start + len(words[0])) if len(words) > 1 else match.end()
            words = words[1:]
        if words and not (start == 0 and len(words) == 1):  # "Earlier, ..." opens a sentence
            names.append((start, match.end()))
    return names
_TITLES = frozenset({"mr", "mrs", "ms", "dr", "pm", "presid", "minist", "prime", "general", "chief", "secretari"})


def _proximity(stems: list[str], first: int, last: int, question_stems: dict[str, float], kept: Iterable[int] = ()) -> float:
    """How closely the question's words surround tokens ``first..last``: each question stem
    counts its weight over its squared token distance, summed over at most the four nearest.
    Tokens in ``kept`` (inside the span) count as adjacent."""
    nearest: dict[str, float] = {}
    kept = set(kept)
    for i, stem in enumerate(stems):
        weight = question_stems.get(stem, 0.0)
        if weight and (i in kept or not first <= i <= last):
            distance = 1 if i in kept else first - i if i < first else i - last
            nearest[stem] = max(nearest.get(stem, 0.0), weight / distance**2)
    return sum(sorted(nearest.values(), reverse=True)[:4])


def _closest_phrase(sentence: str, phrases: Iterable[tuple[int, int]], question_stems: dict[str, float]) -> SpanChoice | None:
    """For open "what" questions: the noun phrase the question does not name that sits closest
    to the words it does name, with a following "of ..." phrase kept ("withdrawal of Russian
    forces")."""
    tokens = _tokens(sentence)
    stems = _token_stems(tokens)
    ordered = sorted(phrases)
    best: tuple[float, int, int] | None = None
    for n, (start, end) in enumerate(ordered):
        inside = [i for i, t in enumerate(tokens) if t[0] >= start and t[1] <= end]
        content = {stems[i] for i in inside if tokens[i][2].lower() not in STOPWORDS}
        if not content or sum(question_stems.get(s, 0.0) > 0 for s in content) * 2 >= len(content):
            continue
        if n + 1 < len(ordered) and re.fullmatch(r"\s+of\s+", sentence[end : ordered[n + 1][0]]):
            end = ordered[n + 1][1]
        score = _proximity(stems, inside[0], inside[-1], question_stems)
        if best is None or score > best[0]:
            best = (score, start, end)
    if best is None or best[0] < 0.3:  # the question points at no phrase: keep the sentence
        return None
    # a phrase only loosely beside the question's words is given, but is no evidence
    return SpanChoice(best[1], best[2], 0.02 * min(best[0], 2.0), 1.0 if best[0] >= 0.6 else 0.0)


def _extend_with_noun(tokens, stems, inside, start, end, kind: AnswerType, question_stems: dict[str, float]) -> tuple[int, int]:
    """A count keeps the noun it counts when the question names it ("three times", "23 years"),
    a sum its currency word."""
    if kind.kind in ("count", "duration", "amount") and inside[-1] + 1 < len(tokens):
        following = inside[-1] + 1
        # a sum keeps its currency ("150 million dollar"), a count or length the noun it counts
        currency = kind.kind != "duration" and _CURRENCY.fullmatch(tokens[following][2])
        counted = kind.kind != "amount" and (stems[following] in question_stems or stems[following] in _noun_stems(kind))
        if currency or counted:
            if tokens[following][0] - end <= 1:
                return start, tokens[following][1]
    return start, end


def _merge_lists(sentence: str, spans: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Join entities listed together ("France, Germany, Spain and others") into one span."""
    ordered = sorted({(start, end): label for start, end, label in sorted(spans, reverse=True)}.items())
    ordered = [(start, end, label) for (start, end), label in ordered]
    merged: list[tuple[int, int, str]] = []
    for start, end, label in ordered:
        if merged:
            previous = merged[-1]
            gap = sentence[previous[1] : start]
            if re.fullmatch(r",? (?:and |or )?|, ", gap):
                merged[-1] = (previous[0], end, label)
                continue
        merged.append((start, end, label))
    tail = re.compile(r",? and (?:others|other countries|more)\b")
    result = []
    for start, end, label in merged:
        match = tail.match(sentence, end)
        result.append((start, match.end() if match and "," in sentence[start:end] else end, label))
    return result + [s for s in ordered if s not in result]


def _of_extended(sentence: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Spans, each also joined with the span after it when only " of " lies between
    ("Treaty" + "of Amsterdam", "withdrawal" + "of Russian forces")."""
    ordered = sorted(set(spans))
    extended = list(ordered)
    for (start, end), (next_start, next_end) in zip(ordered, ordered[1:]):
        if re.fullmatch(r"\s+of\s+(?:the\s+)?", sentence[end:next_start]):
            extended.append((start, next_end))
    return extended


def _thing_phrase(
    sentence: str, noun: str, entities: list[tuple[int, int, str]], phrases: Iterable[tuple[int, int]],
    question_stems: dict[str, float], min_score: float = 0.6,
) -> SpanChoice | None:
    """For "which NOUN" questions: the phrase that names the NOUN ("Lahore and Simla agreements",
    "the 2016 Uri attack", "policy of neutrality") or the name right beside it ("poet Theodor
    Fontane"); something the question does not already say."""
    tokens = _tokens(sentence)
    stems = _token_stems(tokens)
    *modifiers, head = [_stem(word) for word in noun.split()] or [""]
    targets = {head, *modifiers}
    candidates = _of_extended(sentence, [(s, e) for s, e, _ in entities] + list(phrases))
    best: tuple[float, int, int] | None = None
    for start, end in candidates:
        inside = [i for i, t in enumerate(tokens) if t[0] >= start and t[1] <= end]
        new = [i for i in inside if tokens[i][2].lower() not in STOPWORDS and stems[i] not in question_stems and stems[i] not in targets]
        if not new:
            continue
        named = any(tokens[i][2][0].isupper() or tokens[i][2][0].isdigit() for i in new)
        held = {stems[i] for i in inside} & targets
        holds_noun = 1.0 if head in held else 0.9 if held else 0.0
        beside = any(0 <= j < len(tokens) and stems[j] == head for j in (inside[0] - 1, inside[-1] + 1))
        score = (1.0 if named else 0.6) * holds_noun + (0.8 if named else 0.3) * beside
        score += 0.1 * min(_proximity(stems, inside[0], inside[-1], question_stems), 2.0)
        if best is None or score > best[0] + 1e-9 or (abs(score - best[0]) < 1e-9 and end - start < best[2] - best[1]):
            best = (score, start, end)
    if best is None or best[0] < min_score:
        return None
    return SpanChoice(best[1], best[2], 0.06, 1.0)


# --- what the question's verb takes --------------------------------------------------------------

_LIGHT_VERBS = frozenset({"be", "have", "do", "make", "get", "take", "go", "happen", "say", "tell", "call", "use", "accord"})
_OBJECT_DEPS = ("dobj", "ccomp", "xcomp", "attr", "oprd", "acomp")
_SUBJECT_DEPS = ("nsubj", "nsubjpass", "csubj")


@dataclass(frozen=True)
class Predicate:
    """The verb of an open "what" question, whether "what" is its subject or its object, and
    the preposition the question ends on ("what does it proceed to?")."""

    stems: frozenset[str]
    role: str  # "subject" or "object"
    preposition: str | None = None


_COPULAS = frozenset({"is", "are", "was", "were"})


def question_predicate(question_doc: Any) -> Predicate | None:
    """The content verbs of a parsed question ("What had Pakistan hoped would happen?" gives
    "hope", asked for its object), or its copula ("What is European Union law?"); None when
    it has neither."""
    words = [t for t in question_doc if not t.is_punct]
    stranded = words[-1].lower_ if words and words[-1].dep_ == "prep" else None
    # a word with an auxiliary is a verb even where the tagger says noun ("what does it demand")
    verbs = [
        t for t in question_doc
        if (t.pos_ == "VERB" or any(c.dep_ == "aux" for c in t.children))
        and _stem(t.text) not in _LIGHT_VERBS and t.lower_ not in _LIGHT_VERBS
    ]
    if not verbs:
        if any(t.lower_ in _COPULAS and t.dep_ == "ROOT" for t in question_doc):
            return Predicate(_COPULAS, "object", stranded)
        return None
    # "what" asks for the object when the verb has another subject or when the parser says so
    # ("what does the resolution demand?"), else for the subject ("what caused X?")
    wh = next((t for t in question_doc if t.lower_ in ("what", "which")), None)
    if wh is not None and wh.dep_ == "det":
        wh = wh.head  # "what policy": the phrase, not the determiner, fills the verb's slot
    has_subject = any(c.dep_ in _SUBJECT_DEPS and (wh is None or c.i != wh.i) and c.lower_ not in ("what", "which") for v in verbs for c in v.children)
    if has_subject or (wh is not None and wh.dep_ in ("dobj", "pobj", "attr", "oprd", "dative")):
        role = "object"
    else:
        role = "subject"
    return Predicate(frozenset(_stem(t.text) for t in verbs), role, stranded)


def verb_arguments(sentence_doc: Any, predicate: Predicate | None) -> list[tuple[int, int]]:
    """(start, end) in the parsed sentence of the subject or object of each verb the question
    names: "hoped [diplomacy could avert a military conflict]", "proceeds to [Stage 2]"."""
    if predicate is None:
        return []
    deps = _SUBJECT_DEPS if predicate.role == "subject" else _OBJECT_DEPS
    found = []
    for token in sentence_doc:
        if token.lower_ not in predicate.stems and _stem(token.text) not in predicate.stems:
            continue
        children = [c for c in token.children if c.dep_ in deps]
        children.sort(key=lambda c: deps.index(c.dep_))
        if predicate.preposition:
            # the question's last word is a preposition: its object in the sentence answers
            # (the parser may hang it on the verb's object: "equated [abstention with ...]")
            holders = [token, *(c for c in token.children if c.dep_ == "dobj")]
            children = [
                grandchild for holder in holders for c in holder.children
                if c.dep_ in ("prep", "agent") and c.lower_ == predicate.preposition
                for grandchild in c.children if grandchild.dep_ in ("pobj", "pcomp")
            ] + children
        if children:
            left, right = children[0].left_edge, children[0].right_edge
            found.append(_first_clause(sentence_doc.text, left.idx, right.idx + len(right.text)))
    return found


def _first_clause(text: str, start: int, end: int) -> tuple[int, int]:
    """A span cut before its first comma, bracket or dash: "Warszawa[, approximately ...]"."""
    cut = re.search(r",|;| \(| [–—-] ", text[start:end])
    return (start, start + cut.start()) if cut and cut.start() > 0 else (start, end)


def _new_argument(sentence: str, arguments: Iterable[tuple[int, int]], question_stems: dict[str, float]) -> SpanChoice | None:
    """The first verb argument that says something the question does not."""
    for start, end in arguments:
        text = sentence[start:end].rstrip(" ,.;:”\"'")
        stems = [_stem(t[2]) for t in _tokens(text) if t[2].lower() not in STOPWORDS]
        if stems and sum(question_stems.get(s, 0.0) > 0 for s in stems) * 2 < len(stems):
            return SpanChoice(start, start + len(text), 0.05, 1.0)
    return None
