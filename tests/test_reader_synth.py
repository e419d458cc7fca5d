"""The synthetic question generator, run with the real spaCy model on small made-up articles."""
from __future__ import annotations

import random

import pytest

from rag.ingest import make_document
from rag.reader import questions, synth

ARTICLES = {
    "business/a.txt": """Steel firm agrees bribery settlement

Apex Steel has agreed to pay $300m to settle charges brought by US regulators. The company said on Tuesday that profits rose 12% to £45m in the three months to December. Shares in Apex Steel jumped 5% in London after the announcement. Chief executive John Hartley said the firm would cut 2,000 jobs in Germany because demand for steel had collapsed. The company bought a rival mill in Poland in 2003. Analysts at Barclays expect further cuts next year.

The settlement ends a probe that began when auditors found irregular payments. Mr Hartley told investors the company had learned its lesson. The firm employs 14,000 people across Europe and the US. It will open a new plant in Spain in March.""",
    "sport/b.txt": """United sign striker

Manchester United have signed striker Carlos Mendes from Benfica for £18m. Mendes scored 23 goals in the Portuguese league last season. Manager Alex Ferguson said the player had impressed him in the Champions League. The club beat Arsenal 2-1 on Saturday to move third in the table. Mendes will make his debut against Chelsea on 12 February. The Brazilian forward has won three caps for his country.

Ferguson praised his squad after the win. The team has lost only four games this season. Fans will see the new signing at Old Trafford next week.""",
}


@pytest.fixture(scope="module")
def nlp():
    return synth.load_nlp()


@pytest.fixture(scope="module")
def documents():
    return [make_document(doc_id, text, doc_id) for doc_id, text in ARTICLES.items()]


@pytest.fixture(scope="module")
def typed(nlp, documents):
    return synth.generate_typed(documents, nlp, seed=3, max_per_document=20, sentences_per_question=1)


def test_answers_are_exact_slices_and_not_in_the_question(typed, documents):
    texts = {d.id: d.text for d in documents}
    positives = [e for _, e in typed if e.answerable]
    assert len(positives) >= 6
    for example in positives:
        assert example.context in texts[example.group]  # a slice of the article
        assert example.context[example.answer_start : example.answer_start + len(example.answer_text)] == example.answer_text
        assert example.answer_text.lower() not in example.question.lower()
        assert example.question.endswith("?") and len(example.question.split()) <= 20
        assert example.qid.startswith(f"syn-{example.group}-") and example.source == "synthetic"
        assert len(example.context) <= 900


def test_negatives_do_not_hold_the_answer(typed):
    answers = {e.question: e.answer_text for _, e in typed if e.answerable}
    negatives = [e for kind, e in typed if kind == "negative"]
    assert negatives
    for example in negatives:
        assert example.answer_start is None and example.answer_text is None
        assert answers[example.question].lower() not in example.context.lower()


def test_deterministic_for_a_seed(nlp, documents, typed):
    again = synth.generate_typed(documents, nlp, seed=3, max_per_document=20, sentences_per_question=1)
    assert again == typed
    other = synth.generate_typed(documents, nlp, seed=4, max_per_document=20, sentences_per_question=1)
    assert [e.question for _, e in other] != [e.question for _, e in typed]


def test_questions_by_answer_type(nlp):
    cases = {
        "Apex Steel has agreed to pay $300m to settle charges brought by US regulators.": ("money", "How much", "$300m"),
        "The firm employs 14,000 people across Europe and the US.": ("cardinal", "How many people", "14,000"),
        "The company bought a rival mill in Poland in 2003.": ("date", "In what year", "2003"),
        "Shares in Apex Steel jumped 5% in London after the announcement.": ("percent", "By what percentage", "5%"),
        "Chief executive John Hartley said the firm would cut 2,000 jobs because demand had collapsed.": ("reason", "Why", "demand had collapsed"),
    }
    for sentence, (kind, start, answer) in cases.items():
        doc = nlp(sentence)
        found = [c for c in questions.candidates(doc) if c.kind == kind]
        assert found, sentence
        cand = found[0]
        assert doc[cand.start : cand.end].text == answer
        question = questions.write_question(doc, cand, random.Random(1))
        assert question and question.startswith(start), (sentence, question)
        assert answer not in question


def test_split_reads_only_the_listed_side(tmp_path):
    for doc_id, text in ARTICLES.items():
        (tmp_path / doc_id).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / doc_id).write_text(text, encoding="utf-8")
    split = tmp_path / "split.json"
    split.write_text('{"train": ["sport/b.txt"], "heldout": ["business/a.txt"]}', encoding="utf-8")
    assert [d.id for d in synth.read_corpus(tmp_path, split, "train")] == ["sport/b.txt"]
    assert sorted(d.id for d in synth.read_corpus(tmp_path)) == sorted(ARTICLES)


def test_changed_detail_questions_ask_about_what_the_context_does_not_hold(nlp, documents, typed):
    assert not [e for kind, e in typed if kind == "changed"]  # off by default
    typed = synth.generate_typed(documents, nlp, seed=3, max_per_document=20, sentences_per_question=1,
                                 negatives_ratio=1.0, changed_share=1.0)
    originals = {(e.context, e.answer_text): e.question for _, e in typed if e.answerable}
    changed = [e for kind, e in typed if kind == "changed"]
    assert len(changed) >= 3
    for example in changed:
        assert example.answer_start is None and example.answer_text is None
        # the same context as an answerable question, whose question differs in one detail
        question = next(q for (context, _), q in originals.items() if context == example.context
                        and q != example.question and len(set(q.split()) ^ set(example.question.split())) <= 8)
        new_words = set(example.question.split()) - set(question.split())
        assert new_words and not any(w.strip("?").lower() in example.context.lower().split() for w in new_words)


def test_a_changed_detail_takes_an_entity_of_the_same_label_or_shifts_a_number(nlp):
    sentence = nlp("Apex Steel bought a rival mill in Poland in 2003.")
    labels = {e.text: e.label_ for e in sentence.ents}
    assert labels.get("Poland") == "GPE"
    answer = next(c for c in questions.candidates(sentence) if c.kind == "date")
    question = "In what year did Apex Steel buy a rival mill in Poland?"
    pool = {"GPE": ["Poland", "Peru"]}  # "Poland" is in the context, so only "Peru" will do
    changed = synth._changed_detail(sentence, answer, question, sentence.text, pool, random.Random(0))
    assert changed == "In what year did Apex Steel buy a rival mill in Peru?"

    sentence = nlp("Profits rose 12% to 45 million in the year.")
    answer = next(c for c in questions.candidates(sentence) if c.kind == "percent")
    question = "By what percentage did profits rise to 45 million?"
    shifted = synth._changed_detail(sentence, answer, question, sentence.text, {}, random.Random(0))
    assert shifted is not None and shifted != question
    number = synth.NUMBER.findall(shifted)[0]
    assert number not in synth.NUMBER.findall(sentence.text)


def test_questions_that_name_too_little_can_be_skipped(nlp, documents):
    assert questions.acceptable("What do they have now?", "a chance", "thing")  # off by default
    assert not questions.acceptable("What do they have now?", "a chance", "thing", min_content_words=3)
    assert questions.acceptable("How much did Apex Steel agree to pay?", "$300m", "money", min_content_words=3)
    strict = synth.generate_typed(documents, nlp, seed=3, max_per_document=20, sentences_per_question=1,
                                  min_content_words=3)
    asked = [e.question for _, e in strict if e.answerable]
    assert asked
    assert all(questions.content_words(q) >= 3 for q in asked), asked
