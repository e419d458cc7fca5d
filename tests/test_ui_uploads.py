"""Adding articles from the page (ui.uploads) over a private copy of a real index: checks and
messages per file, the upload namespace, refusing to replace unless asked, atomic indexing, and
cleaning gradio's temp folder."""
from __future__ import annotations

import json

from rag.ingest import SAMPLE_CORPUS, load_documents
from rag.store import CURRENT_FILE, build_index
from ui import format as fmt
from ui.app import make_handlers
from ui.engine import Engine
from ui.uploads import (
    MAX_UPLOAD_BATCH_BYTES,
    MAX_UPLOAD_BYTES,
    REPLACE_LABEL,
    add_uploads,
    check_upload,
    read_uploads,
)

XSS_ARTICLE = """Zarvonian harbour festival draws record crowds

KELBROOK: The Zarvonian harbour festival took place on 3 March 2021 in the town of Kelbrook, where a banner reading <script>alert(1)</script> hung over the quay.

The festival website showed <img src=x onerror=alert(1)> instead of a photograph of the boats, and the printed programme said ${alert(2)} and {{constructor}} where the dates belonged.

More than 4,000 visitors watched the lantern parade along the quay, and fishing crews opened their boats to the public for the first time since the harbour was rebuilt.
"""
SAMPLE_ID = "004_c0bc88ef037bc82c.txt"  # an article of the sample corpus


def test_upload_checks_type_emptiness_and_size(tmp_path):
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(b"%PDF-1.4 something")
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    big = tmp_path / "huge.txt"
    big.write_bytes(b"word " * (MAX_UPLOAD_BYTES // 5 + 1))
    good = tmp_path / "good.md"
    good.write_text("A headline here\n\nSome article text that is long enough to be read as an article.\n")
    assert "report.pdf" in check_upload(pdf) and "unsupported file type .pdf" in check_upload(pdf)
    assert check_upload(empty) == "empty.txt: the file is empty"
    assert "huge.txt" in check_upload(big) and "limit is 5.0 MB" in check_upload(big)
    assert check_upload(good) is None


def test_read_uploads_names_each_bad_file(tmp_path):
    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"\x00\x01\x02 not text")
    lines = tmp_path / "feed.jsonl"
    lines.write_text('{"id": "a1", "title": "One", "text": "Body of the first article, long enough."}\nnot json\n{"id": "a2"}\n')
    batch = read_uploads([binary, lines])
    assert [d.id for d in batch.documents] == ["upload/feed.jsonl/a1"]
    assert any(e.startswith("binary.txt:") and "NUL" in e for e in batch.errors)
    assert any(e.startswith("feed.jsonl line 2:") and "JSON" in e for e in batch.errors)
    assert any(e.startswith("feed.jsonl line 3:") and "text" in e for e in batch.errors)


def test_bad_uploads_leave_the_index_alone(scratch_engine, tmp_path):
    live = (scratch_engine.index_dir / CURRENT_FILE).read_text()
    bad = tmp_path / "notes.pdf"
    bad.write_bytes(b"%PDF")
    empty = tmp_path / "blank.txt"
    empty.write_text("")
    message, changed = add_uploads(scratch_engine, [bad, empty])
    assert not changed and "notes.pdf" in message and "blank.txt" in message and "Not added" in message
    assert (scratch_engine.index_dir / CURRENT_FILE).read_text() == live
    assert not (scratch_engine.index_dir / "uploads").exists()


def test_upload_adds_article_and_swaps_the_index(scratch_engine, tmp_path):
    before = scratch_engine.answerer
    article = tmp_path / "zarvon_festival.txt"
    article.write_text(XSS_ARTICLE, encoding="utf-8")
    bad = tmp_path / "photo.png"
    bad.write_bytes(b"\x89PNG")
    seen = []
    message, changed = add_uploads(scratch_engine, [article, bad], progress=lambda f, d: seen.append(d))
    assert changed and "zarvon\\_festival.txt" in message and "photo.png" in message
    assert scratch_engine.answerer is not before and "upload/zarvon_festival.txt" in scratch_engine.index.documents
    assert (scratch_engine.index_dir / "uploads" / "zarvon_festival.txt").read_text(encoding="utf-8") == XSS_ARTICLE
    assert seen[0] == "Reading files" and seen[-1] == "Done"

    answer = scratch_engine.ask("When did the Zarvonian harbour festival take place?")
    assert not answer.abstained and answer.citations[0].doc == "upload/zarvon_festival.txt", answer.message
    assert "3 March 2021" in answer.sentence
    panel = fmt.sources_html(answer, scratch_engine.index.document_text)
    message = fmt.answer_markdown(answer)
    for out in (panel, message):
        assert "<script" not in out and "<img" not in out and "${" not in out and "{{" not in out
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in panel and "&lt;img src=x onerror=alert(1)&gt;" in panel

    # the same file again changes nothing
    message, changed = add_uploads(scratch_engine, [article])
    assert not changed and "unchanged" in message


def test_upload_named_like_an_indexed_article_leaves_it_alone(scratch_engine, tmp_path):
    original = scratch_engine.index.document_text(SAMPLE_ID)
    impostor = tmp_path / SAMPLE_ID
    impostor.write_text(XSS_ARTICLE, encoding="utf-8")
    feed = tmp_path / "feed.jsonl"
    feed.write_text(json.dumps({"id": SAMPLE_ID, "title": "Replaced", "text": XSS_ARTICLE}) + "\n", encoding="utf-8")
    message, changed = add_uploads(scratch_engine, [impostor, feed])
    assert changed, message
    documents = scratch_engine.index.documents
    assert scratch_engine.index.document_text(SAMPLE_ID) == original
    assert f"upload/{SAMPLE_ID}" in documents and f"upload/feed.jsonl/{SAMPLE_ID}" in documents
    assert documents[SAMPLE_ID].title != "Replaced"
    assert (scratch_engine.index_dir / "uploads" / SAMPLE_ID).read_text(encoding="utf-8") == XSS_ARTICLE


def test_a_different_file_of_the_same_name_needs_the_replace_choice(scratch_engine, tmp_path):
    first, second = tmp_path / "a" / "notes.txt", tmp_path / "b" / "notes.txt"
    for path, text in ((first, XSS_ARTICLE), (second, XSS_ARTICLE.replace("4,000", "9,000"))):
        path.parent.mkdir()
        path.write_text(text, encoding="utf-8")
    kept = scratch_engine.index_dir / "uploads" / "notes.txt"
    message, changed = add_uploads(scratch_engine, [first])
    assert changed and "upload/notes.txt" in message.replace("\\", "")

    # off by default: refused, naming the article and the choice; nothing replaced
    message, changed = add_uploads(scratch_engine, [second])
    assert not changed and "Not added" in message
    plain = message.replace("\\", "")
    assert "notes.txt: already indexed with different content (upload/notes.txt)" in plain and REPLACE_LABEL in plain
    assert "4,000" in scratch_engine.index.document_text("upload/notes.txt") and "4,000" in kept.read_text()

    # the same file again is no replacement: accepted as unchanged
    message, changed = add_uploads(scratch_engine, [first])
    assert not changed and "unchanged" in message and "Not added" not in message

    # ticked: replaced, visibly
    message, changed = add_uploads(scratch_engine, [second], replace=True)
    assert changed and "Replaced 1" in message
    assert "9,000" in scratch_engine.index.document_text("upload/notes.txt") and "9,000" in kept.read_text()
    assert not list(kept.parent.glob(".staging-*"))


def test_an_upload_batch_has_a_total_size_limit(tmp_path):
    paths = []
    for i in range(MAX_UPLOAD_BATCH_BYTES // MAX_UPLOAD_BYTES + 1):
        path = tmp_path / f"part{i}.txt"
        path.write_bytes(b"word " * (MAX_UPLOAD_BYTES // 5 - 10))
        paths.append(path)
    batch = read_uploads(paths)
    assert batch.documents == [] and len(batch.errors) == 1
    assert "add up to" in batch.errors[0] and "limit is 20.0 MB per upload" in batch.errors[0]


def test_upload_messages_name_files_not_server_paths(scratch_engine, tmp_path):
    (scratch_engine.index_dir / "uploads").write_text("in the way")  # the folder cannot be made
    article = tmp_path / "zarvon_festival.txt"
    article.write_text(XSS_ARTICLE, encoding="utf-8")
    feed = tmp_path / "feed.jsonl"
    feed.write_text("not json\n", encoding="utf-8")
    message, changed = add_uploads(scratch_engine, [article, feed])
    assert not changed and "Indexing failed" in message and "feed.jsonl line 1" in message
    for folder in (scratch_engine.index_dir, tmp_path):
        assert str(folder) not in message
    assert "/" not in message.replace("upload/", "")
    assert "upload/zarvon_festival.txt" not in scratch_engine.index.documents


def test_processed_and_refused_uploads_leave_the_temp_folder(scratch_engine, tmp_path):
    temp = tmp_path / "gradio"
    good, bad, empty = temp / "h1" / "zarvon_festival.txt", temp / "h2" / "photo.png", temp / "h3" / "blank.txt"
    for path in (good, bad, empty):
        path.parent.mkdir(parents=True)
    good.write_text(XSS_ARTICLE, encoding="utf-8")
    bad.write_bytes(b"\x89PNG")
    empty.write_text("")
    outside = tmp_path / "mine.txt"
    outside.write_text(XSS_ARTICLE, encoding="utf-8")
    upload = make_handlers(scratch_engine, upload_root=temp)["upload"]
    message, rows, header, files = upload([str(good), str(bad), str(empty), str(outside)])
    assert "Added 2 articles" in message and "photo.png" in message and "blank.txt" in message
    assert files is None and "/" not in message.replace("upload/", "")
    assert list(temp.iterdir()) == []  # the files and the folders gradio made for them
    assert outside.is_file()  # never anything outside gradio's folder
    assert (scratch_engine.index_dir / "uploads" / "zarvon_festival.txt").is_file()


def test_the_page_runs_unchanged_on_a_milvus_index(tmp_path, embedder):
    from conftest import store_config

    index_dir = tmp_path / "index"
    build_index(load_documents([SAMPLE_CORPUS]).documents, index_dir, embedder, store_config("milvus", tmp_path))
    engine = Engine(index_dir, embedder)
    assert engine.index.config.store.kind == "milvus"
    article = tmp_path / "zarvon_festival.txt"
    article.write_text(XSS_ARTICLE, encoding="utf-8")
    message, changed = add_uploads(engine, [article])
    assert changed and engine.index.manifest["store"]["kind"] == "milvus"
    answer = engine.ask("When did the Zarvonian harbour festival take place?")
    assert not answer.abstained and answer.citations[0].doc == "upload/zarvon_festival.txt", answer.message
    assert "<script" not in fmt.sources_html(answer, engine.index.document_text)
