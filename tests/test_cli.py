"""The `rag` command line, run as a user would run it."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def rag(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "rag.cli", *args], capture_output=True, text=True, cwd=cwd,
        env={**os.environ, "HF_HUB_OFFLINE": "1"}, timeout=300,
    )


@pytest.fixture(scope="module")
def index_copy(sample_index: Path, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("cli") / "index"
    shutil.copytree(sample_index, folder)
    return folder


def test_index_without_paths_indexes_the_sample_corpus(tmp_path: Path):
    result = rag("index", "--index", str(tmp_path / "index"), "--quiet")
    assert result.returncode == 0, result.stderr
    assert "indexed 5 documents" in result.stdout and "chunks/s" in result.stdout
    again = rag("index", "--index", str(tmp_path / "index"), "--quiet")
    assert "embedded 0 chunks" in again.stdout and "unchanged 5" in again.stdout


def test_index_warns_about_bad_files_and_goes_on(tmp_path: Path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "ok.txt").write_text("Ferry line\n\nThe Kelbrook ferry line opened on Tuesday, the first new route in a decade.\n", encoding="utf-8")
    (corpus / "bad.txt").write_bytes(b"\xff\xfe\x00\x01binary")
    result = rag("index", str(corpus), "--index", str(tmp_path / "index"), "--quiet")
    assert result.returncode == 0
    assert "warning: skipped" in result.stderr and "bad.txt" in result.stderr
    assert "indexed 1 documents" in result.stdout


def test_search_json_lists_ranked_passages(index_copy: Path):
    result = rag("search", "How long did Khan's meeting with Putin last?", "-k", "3", "--json", "--index", str(index_copy))
    record = json.loads(result.stdout)
    assert [p["rank"] for p in record["passages"]] == [1, 2, 3]
    assert {"doc", "title", "date", "start", "end", "text", "score", "dense_score", "bm25_score"} <= set(record["passages"][0])


def test_ask_prints_answer_and_numbered_citations(index_copy: Path):
    result = rag("ask", "What reward did the US offer for information on Hafiz Saeed?", "--answers", "2",
                 "--threshold", "0", "--index", str(index_copy))
    assert result.returncode == 0, result.stderr
    answer_line = result.stdout.splitlines()[0]
    assert answer_line.startswith("Answer: ") and "$10 million" in answer_line
    assert "[1] Islamabad intensifies diplomatic contacts with Moscow" in result.stdout
    assert "Answer 2: " in result.stdout


def test_ask_json_with_history(index_copy: Path):
    history = "How much money is Russia putting into the gas pipeline?"
    result = rag("ask", "And how long is it?", "--history", history, "--answers", "3", "--json", "--index", str(index_copy))
    record = json.loads(result.stdout)
    assert record["question"] == "And how long is it?" and record["reader"]["sha256"]
    for given in ([record] if record["answer"] else []) + record["alternatives"]:
        quote = given["citations"][0]["quote"]
        assert given["answer"] in quote
    # the follow-up is searched together with the earlier question: the pipeline article comes first
    assert record["passages"][0]["doc"] == "004_c0bc88ef037bc82c.txt"


def test_chunks_prints_jsonl(index_copy: Path):
    lines = rag("chunks", "--index", str(index_copy)).stdout.splitlines()
    records = [json.loads(line) for line in lines]
    assert len(records) > 20 and {"row", "doc", "start", "end", "text"} <= set(records[0])


@pytest.mark.parametrize("args, message", [
    (["ask", "   "], "empty"),
    (["search", "Putin", "--index", "/nonexistent/index"], "no index at /nonexistent/index"),
    (["index", "/nonexistent/corpus"], "no such file or folder"),
    (["search", "Putin", "--date-from", "yesterday"], "not a date"),
])
def test_user_errors_are_one_line_without_traceback(index_copy: Path, args, message):
    if "--index" not in args and args[0] != "index":
        args = [*args, "--index", str(index_copy)]
    result = rag(*args)
    assert result.returncode != 0
    assert message in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_ask_json_error_record_for_a_missing_index(tmp_path: Path):
    result = rag("ask", "Who met Putin?", "--json", "--index", str(tmp_path / "none"))
    assert result.returncode == 2 and "no index at" in json.loads(result.stdout)["error"]


@pytest.mark.parametrize("command", [
    ["search", "x" * 1001],
    ["search", "Кто встретился с Путиным?"],
    ["search", "Who met Putin?", "-k", "0"],
    ["ask", "Who met Putin?", "-k", "0"],
    ["ask", "Who met Putin?", "--date-from", "in 2019-02-30 or 3 March 2019"],
    ["search", "Who met Putin?", "--date-from", "2019-02-30"],
    ["search", "Who met Putin?", "--date-to", "3 March 2019"],
    ["ask", "And how long?", "--history", "y" * 5000],
])
def test_search_and_ask_refuse_the_same_bad_input_the_same_way(index_copy: Path, command: list[str]):
    result = rag(*command, "--json", "--index", str(index_copy))
    assert result.returncode == 2, result.stdout
    assert json.loads(result.stdout.splitlines()[-1])["error"]
    assert result.stderr.startswith(f"rag {command[0]}: error:")


def test_a_milvus_index_is_asked_without_naming_the_store_again(tmp_path: Path):
    index_dir, uri = tmp_path / "index", tmp_path / "milvus.db"
    built = rag("index", "--index", str(index_dir), "--store", "milvus", "--milvus-uri", str(uri), "--quiet")
    assert built.returncode == 0, built.stderr
    assert "indexed 5 documents" in built.stdout
    asked = rag("ask", "What reward did the US offer for information on Hafiz Saeed?", "--index", str(index_dir), "--json")
    assert asked.returncode == 0, asked.stderr
    record = json.loads(asked.stdout)
    assert record["passages"] and record["passages"][0]["doc"] == "004_c0bc88ef037bc82c.txt"
    # a rebuild without --store keeps the Milvus store
    again = rag("index", "--index", str(index_dir), "--quiet")
    assert again.returncode == 0 and "unchanged 5" in again.stdout


def test_store_options_are_checked(tmp_path: Path):
    result = rag("index", "--index", str(tmp_path / "index"), "--store", "milvus", "--quiet")
    assert result.returncode == 2 and "--store milvus needs --milvus-uri" in result.stderr
