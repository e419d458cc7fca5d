"""The trained reader: windows with offsets, span decoding, the shipped checkpoint, the combiner."""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

from rag.onnx_checkpoint import file_sha256
from rag.reader.data import ReaderExample, question_examples, read_squad, retrieved_negatives
from rag.reader.features import WindowSettings, Windows, answer_positions, coverage, encode, load_tokenizer
from rag.reader.model import DEFAULT_CHECKPOINT, Reader, ReaderError, decode_spans
from rag.reader.scoring import CONFIDENCE_FEATURES, FEATURES, Candidate, Combiner, add_features, distinct
from rag.reader.train import TrainingSettings, split_squad
from rag.types import Passage

REPOSITORY = Path(__file__).resolve().parents[1]

CONTEXT = (
    "The Kelbrook ferry carried a record 912 passengers on Sunday, the operator said. "
    "Its new captain, Marta Lindqvist, took over the route in March 2021 after twenty years at sea. "
    "Tickets now cost £14 for adults because fuel prices rose sharply last winter."
)


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer()


@pytest.fixture(scope="module")
def reader() -> Reader:
    return Reader().warm_up()


def test_long_contexts_become_overlapping_windows_that_map_back_to_characters(tokenizer):
    # fails with tokenizers 0.23.1 and 0.23.2, whose overflow windows stop short of the context's
    # end: a reader trained there read only the first ~800 characters of each article
    settings = WindowSettings(max_length=48, stride=16, max_question_tokens=12)
    windows = encode(tokenizer, ["Who is the captain?"], [CONTEXT], settings)
    assert len(windows) > 1 and set(windows.context_of) == {0}
    covered = []
    for row in range(len(windows)):
        spans = [(int(s), int(e)) for s, e in windows.offsets[row] if s >= 0]
        assert spans == sorted(spans) and all(0 <= s < e <= len(CONTEXT) for s, e in spans)
        assert all(CONTEXT[s:e].strip() == CONTEXT[s:e] for s, e in spans), "word pieces hold no white space"
        covered.append((spans[0][0], spans[-1][1]))
    assert covered[0][0] == 0 and covered[-1][1] == len(CONTEXT)
    assert all(later[0] < earlier[1] for earlier, later in zip(covered, covered[1:])), "windows overlap"


def test_coverage_tells_when_windows_stop_short_of_a_context_end(tokenizer):
    settings = WindowSettings(max_length=48, stride=16, max_question_tokens=12)
    windows = encode(tokenizer, ["Who is the captain?", "How much?"], [CONTEXT, CONTEXT[:60] + "  \n"], settings)
    assert coverage(windows, [CONTEXT, CONTEXT[:60] + "  \n"]) == 1.0, "trailing white space needs no window"
    first = np.nonzero(windows.context_of == 0)[0]
    cut = Windows(*(array[first[:-1]] for array in (windows.input_ids, windows.attention_mask,
                                                    windows.token_type_ids, windows.offsets, windows.context_of)))
    assert coverage(cut, [CONTEXT]) < 1.0


def test_answer_positions_point_at_the_answer_tokens_or_at_cls(tokenizer):
    settings = WindowSettings(max_length=48, stride=16, max_question_tokens=12)
    windows = encode(tokenizer, ["Who is the captain?"], [CONTEXT], settings)
    start = CONTEXT.index("Marta Lindqvist")
    targets = answer_positions(windows, [start], [start + len("Marta Lindqvist")])
    holding = [row for row in range(len(windows)) if targets[row, 0] > 0]
    assert holding, "some window holds the whole answer"
    for row in range(len(windows)):
        first, last = targets[row]
        if row in holding:
            assert CONTEXT[windows.offsets[row, first, 0] : windows.offsets[row, last, 1]] == "Marta Lindqvist"
        else:
            assert (first, last) == (0, 0)


def test_decode_returns_the_best_span_with_its_character_offsets(tokenizer):
    windows = encode(tokenizer, ["How many passengers?"], [CONTEXT], WindowSettings())
    start_logits = np.zeros(windows.input_ids.shape, dtype=np.float32)
    end_logits = np.zeros_like(start_logits)
    at = CONTEXT.index("912")  # word pieces "91" "##2": the span starts on one, ends on the other
    first = [t for t in range(windows.input_ids.shape[1]) if windows.offsets[0, t, 0] == at][0]
    last = [t for t in range(windows.input_ids.shape[1]) if windows.offsets[0, t, 1] == at + 3][0]
    start_logits[0, first] = end_logits[0, last] = 5.0
    best = decode_spans(start_logits, end_logits, windows, top_n=1)[0]
    assert CONTEXT[best.start : best.end] == "912" and best.margin == pytest.approx(10.0)


def test_squad_split_keeps_whole_articles_apart(squad_file):
    examples = list(read_squad(squad_file))
    train, held = split_squad(examples, ["Normans"])
    assert {e.group for e in held} == {"Normans"} and "Normans" not in {e.group for e in train}
    assert any(not e.answerable for e in held), "SQuAD 2.0's unanswerable questions are the no-answer signal"
    for example in held[:50]:
        if example.answerable:
            assert example.context[example.answer_start :].startswith(example.answer_text)
    with pytest.raises(ValueError, match="not in the SQuAD file"):
        split_squad(examples, ["No_such_article"])


def test_shipped_checkpoint_is_int8_onnx_with_its_training_record():
    reader = Reader()
    metadata = reader.metadata
    assert file_sha256(reader.model_path) == metadata["sha256"]
    assert reader.model_path.stat().st_size < 50_000_000
    training = metadata["training"]
    assert {"seed", "epochs", "learning_rate", "validation_articles", "squad_train_questions"} <= set(training)
    assert len(training["per_epoch"]) == training["epochs"] and "answerable_f1" in training["per_epoch"][-1]
    assert metadata["combiner"]["threshold"] == metadata["calibration"]["threshold"]
    assert set(metadata["combiner"]["weights"]) == set(CONFIDENCE_FEATURES)
    assert set(metadata["combiner"]["ranker"]["weights"]) == set(FEATURES)


def test_training_defaults_reproduce_the_shipped_checkpoint_settings():
    # `rag train-reader` with no options must train what ships (the README's training command)
    metadata, defaults = Reader().metadata, TrainingSettings()
    assert metadata["windows"] == asdict(defaults.windows)
    for name in ("seed", "epochs", "learning_rate", "negative_share", "batch_size", "warmup_share",
                 "synthetic_examples", "retrieved_negative_share", "question_repeats"):
        assert metadata["training"][name] == getattr(defaults, name), name
    # the reader trained on the first set of people's questions; the combiner was fitted on the
    # second, which the reader never read (the files the README's training command names)
    calibration_sets = REPOSITORY / "eval" / "calibration"
    (trained_on,) = metadata["training"]["people_questions_files"]
    assert trained_on["sha256"] == file_sha256(calibration_sets / trained_on["file"]) and metadata["training"]["people_questions"] == 800
    fitted_on = metadata["calibration"]["news_questions"]
    assert fitted_on["sha256"] == file_sha256(calibration_sets / fitted_on["file"]) != trained_on["sha256"]


def test_a_missing_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(ReaderError, match="train one with `rag train-reader"):
        Reader(tmp_path)


def test_a_tampered_checkpoint_is_refused(tmp_path):
    (tmp_path / "reader.onnx").write_bytes(DEFAULT_CHECKPOINT.joinpath("reader.onnx").read_bytes()[:-10] + b"0123456789")
    (tmp_path / "reader.json").write_text(DEFAULT_CHECKPOINT.joinpath("reader.json").read_text())
    with pytest.raises(ReaderError, match="does not match the sha256"):
        Reader(tmp_path).warm_up()


@pytest.mark.parametrize("question, expected", [
    ("Who is the new captain of the ferry?", "Marta Lindqvist"),
    ("How many passengers did the ferry carry on Sunday?", "912"),
    ("How much does an adult ticket cost?", "£14"),
])
def test_the_reader_finds_the_span_that_answers(reader, question, expected):
    spans = reader.read(question, [CONTEXT])
    best = max(spans, key=lambda s: s.score)
    assert expected in CONTEXT[best.start : best.end]
    assert len(CONTEXT[best.start : best.end].split()) <= 4 + len(expected.split())


def test_the_reader_prefers_the_context_that_answers(reader):
    other = "The harbour master said the new pier will open in the autumn, weather permitting."
    spans = reader.read("Who is the new captain of the ferry?", [other, CONTEXT])
    best = max(spans, key=lambda s: s.margin)
    assert best.context == 1


def test_combiner_ranks_candidates_and_gives_probabilities(reader):
    question = "Who is the new captain of the ferry?"
    spans = reader.read(question, [CONTEXT])
    candidates = [Candidate(s.context, "doc", s.start, s.end, CONTEXT[s.start : s.end], s) for s in spans]
    add_features(candidates, [passage(CONTEXT, rank=1, dense_score=0.61)], question)
    assert all(set(c.features) == set(CONFIDENCE_FEATURES) for c in candidates)
    combiner = Combiner.from_metadata(reader.metadata)
    ranked = combiner.rank(candidates)
    # ordered by the ranker's expected F1; the confidence is the separate P(right)
    assert [c.rank_score for c in ranked] == sorted((c.rank_score for c in ranked), reverse=True)
    assert all(0.0 <= c.probability <= 1.0 and c.probability == combiner.probability(c.features) for c in ranked)
    assert ranked[0].text == "Marta Lindqvist"
    texts = [c.text for c in distinct(ranked, 3)]
    assert len(texts) == len(set(texts)) and all(a not in b for a in texts for b in texts if a != b)


def passage(text: str, rank: int, dense_score: float | None) -> Passage:
    return Passage(rank, f"doc-{rank}", "title", None, 0, len(text), text, rank, 1.0 / rank, dense_score=dense_score)


def test_candidates_carry_how_closely_the_archive_matches_the_question(reader):
    question = "Who is the new captain of the ferry?"
    other = "The harbour master said the new pier will open in the autumn, weather permitting."
    # the second passage was found by BM25 alone: it has no dense cosine of its own
    passages = [passage(other, 1, 0.42), passage(CONTEXT, 2, None), passage("Unread third passage.", 3, 0.35)]
    spans = reader.read(question, [p.text for p in passages[:2]])
    candidates = [Candidate(s.context, passages[s.context].doc_id, s.start, s.end,
                            passages[s.context].text[s.start : s.end], s) for s in spans]
    add_features(candidates, passages, question)
    in_context = [c for c in candidates if c.passage == 1]
    assert in_context and all(c.features["passage_dense"] == 0.35 for c in in_context)  # the lowest of the list
    assert all(c.features["passage_dense"] == 0.42 for c in candidates if c.passage == 0)
    assert all(c.features["top_dense"] == 0.42 and c.features["inv_rank"] == 1 / (c.passage + 1) for c in candidates)
    assert {c.features["question_words"] for c in candidates} == {np.log1p(8)}


def test_reader_example_round_trips_through_json():
    example = ReaderExample("q1", "Who?", CONTEXT, 5, "Kelbrook", "doc", "synthetic")
    assert ReaderExample.from_dict(json.loads(json.dumps(example.to_dict()))) == example


def test_retrieved_negatives_pair_a_question_with_the_closest_passage_that_lacks_its_answer():
    ferry = ReaderExample("q1", "How many passengers did the Kelbrook ferry carry?", CONTEXT, 36, "912", "ferry", "synthetic")
    texts = {
        "rival": "The Dunmore ferry carried fewer cars this summer.",
        "copy": "The Kelbrook ferry carried a record 912 passengers on Sunday.",
        "far": "The library reopened on Monday with a new reading room.",
    }
    others = [ReaderExample(f"o-{k}", "What happened?", t, None, None, k, "synthetic") for k, t in texts.items()]
    squad = ReaderExample("s1", "How many passengers did the ferry carry?", "The ferry carried 40 cars.", None, None,
                          "squad-article", "squad")
    negatives = retrieved_negatives([ferry, *others, squad], share=1.0, seed=13)
    # the copy holds the answer, so the best match without it is the rival story; SQuAD is not searched
    assert negatives == [ReaderExample("q1-retrieved", ferry.question, texts["rival"], None, None, "ferry", "synthetic")]
    assert retrieved_negatives([ferry, *others], share=0.0, seed=13) == []


def people_questions(folder, *rows):
    corpus = folder / "corpus"
    (corpus / "local").mkdir(parents=True)
    (corpus / "local" / "ferry.txt").write_text(
        "Ferry record\n\nThe Kelbrook ferry carried 912 passengers on Sunday. Its captain, Marta Lindqvist, "
        "said 912 was a record.\n", encoding="utf-8")
    path = folder / "questions.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path, corpus


def test_peoples_questions_train_over_the_whole_text_of_their_article(tmp_path):
    path, corpus = people_questions(
        tmp_path,
        {"id": "q1", "question": "How many people did the Kelbrook ferry carry?", "answers": ["912", "912 passengers"],
         "sources": ["local/ferry.txt"], "article": "local/ferry.txt"},
        {"id": "q2", "question": "Who owns the Kelbrook ferry?", "answers": [], "sources": [], "article": "local/ferry.txt"},
    )
    answerable, unanswerable = question_examples(path, corpus)

    assert answerable.context == unanswerable.context == (corpus / "local" / "ferry.txt").read_text(encoding="utf-8")
    # the first occurrence of the first answer is the target
    assert answerable.context[answerable.answer_start:].startswith("912 passengers")
    assert answerable.answer_text == "912" and answerable.group == "local/ferry.txt" and answerable.source == "people"
    assert not unanswerable.answerable


def test_a_peoples_question_whose_answer_is_not_in_its_article_is_refused(tmp_path):
    from rag.gold import GoldFormatError

    path, corpus = people_questions(tmp_path, {"id": "q1", "question": "Who is the ferry's captain?",
                                               "answers": ["Marta Lindkvist"], "article": "local/ferry.txt"})
    with pytest.raises(GoldFormatError, match="'Marta Lindkvist' of question 'q1' is not in local/ferry.txt"):
        question_examples(path, corpus)


def test_train_reader_refuses_to_calibrate_on_the_questions_it_trains_on(tmp_path):
    import argparse

    from rag.reader import train

    path, corpus = people_questions(tmp_path, {"id": "q1", "question": "How many passengers?", "answers": ["912"],
                                               "article": "local/ferry.txt"})
    parser = argparse.ArgumentParser()
    train.add_arguments(parser)
    args = parser.parse_args(["--squad", str(tmp_path / "missing.json"), "--questions", str(path),
                              "--questions-corpus", str(corpus), "--news-questions", str(path),
                              "--news-corpus", str(corpus)])
    with pytest.raises(ValueError, match="questions the reader was not trained on"):
        train.run(args)
    # several files may train the reader; none of them may also calibrate it
    other = tmp_path / "other.jsonl"
    other.write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    args = parser.parse_args(["--squad", str(tmp_path / "missing.json"), "--questions", str(other), str(path),
                              "--questions-corpus", str(corpus), "--news-questions", str(path),
                              "--news-corpus", str(corpus)])
    with pytest.raises(ValueError, match="--news-questions is one of the --questions files"):
        train.run(args)
    args = parser.parse_args(["--squad", str(tmp_path / "missing.json"), "--questions", str(path)])
    with pytest.raises(ValueError, match="--questions needs --questions-corpus"):
        train.run(args)
