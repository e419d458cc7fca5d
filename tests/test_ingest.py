"""Reading articles: metadata, boilerplate removal, bad inputs, near-duplicates."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.boilerplate import find_body, parse_date
from rag.config import DedupConfig
from rag.dedup import minhash_signature, near_duplicate_groups
from rag.ingest import SAMPLE_CORPUS, load_documents, make_document

BOILERPLATE = [
    "Latest from", "Previous Story", "Next Story", "Don’t Miss", "Don't Miss", "Most Popular",
    "ALSO READ", "Also read", "Leave a Reply", "LEAVE A REPLY", "Your email address",
    "Please enter your", "Support Our Journalism", "paid subscription", "uses cookies",
    "Follow Us", "Text Size", "Go toTop", "scorecardresearch", "Subscribe to our channels",
    "India, Malaysia Stand Together", "Goyal Courts Global CEOs", "mins read", "ISSN",
]

SCRAPED_PAGE = """Harbour town opens new ferry line
March 3, 2021
3 mins read
Share on Facebook

The council of Kelbrook opened a ferry line to the islands on Tuesday, the first new route in a decade, officials said at the quay.

Ferries will run every two hours in summer and twice a day in winter, the operator said in a statement on its website.

Also read: Council approves budget for 2021
Related Stories
Kelbrook mayor re-elected in landslide
Bridge works delayed again
"""

HTML_PAGE = """<html><head><title>Kelbrook ferry line opens</title>
<meta property="article:published_time" content="2021-03-03T10:00:00Z"></head>
<body><nav><a href="/">Home</a> <a href="/news">News</a> <a href="/sport">Sport</a></nav>
<article><h1>Kelbrook ferry line opens</h1>
<p>The council of Kelbrook opened a ferry line to the islands on Tuesday, the first new route in a decade, officials said.</p>
<p>Ferries will run every two hours in summer and twice a day in winter, the operator said in a statement.</p></article>
<footer>This website uses cookies to improve your experience. Accept</footer></body></html>"""


def body_text(document) -> str:
    return "\n".join(document.text[s.start : s.end] for s in document.body)


def test_sample_corpus_reads_five_articles_with_titles_and_dates(sample_documents):
    by_id = {d.id: d for d in sample_documents}
    assert sorted(by_id) == sorted(p.name for p in SAMPLE_CORPUS.glob("*.txt"))
    assert by_id["000_c843eb08c4d7e257.txt"].title == "US, allies pushing Pakistan to vote against Russia at UN"
    assert by_id["000_c843eb08c4d7e257.txt"].date == "2022-10-09"
    assert by_id["001_066d803ddee4351a.txt"].date == "2022-10-09"  # from " date 2022-10-09 " inline
    assert by_id["003_37e2292394dd45fd.txt"].date == "2024-04-18"
    assert by_id["002_897760c4759c785f.txt"].title == "Pakistan’s Neutrality Is Under Pressure – OpEd"


def test_original_text_is_kept_exactly(sample_documents):
    for document in sample_documents:
        raw = (SAMPLE_CORPUS / document.id).read_bytes().decode("utf-8")
        assert document.text == raw


@pytest.mark.parametrize("phrase", BOILERPLATE)
def test_no_boilerplate_in_sample_bodies(sample_documents, phrase):
    for document in sample_documents:
        assert phrase not in body_text(document), (document.id, phrase)


def test_article_text_survives_cleaning(sample_documents):
    by_id = {d.id: body_text(d) for d in sample_documents}
    assert "Nevertheless, officially Pakistan is tight-lipped" in by_id["000_c843eb08c4d7e257.txt"]
    assert "The three-hour meeting came while the Kremlin" in by_id["003_37e2292394dd45fd.txt"]
    assert "Russia is investing $2 billion" in by_id["004_c0bc88ef037bc82c.txt"]
    assert not by_id["001_066d803ddee4351a.txt"].startswith("date")


def test_boilerplate_rules_generalize_to_other_pages():
    document = make_document("ferry.txt", SCRAPED_PAGE, "ferry.txt")
    body = body_text(document)
    assert document.title == "Harbour town opens new ferry line"
    assert document.date == "2021-03-03"
    assert "The council of Kelbrook opened a ferry line" in body
    assert "Ferries will run every two hours" in body
    for junk in ("mins read", "Share on Facebook", "Also read", "Related Stories", "mayor re-elected", "Bridge works"):
        assert junk not in body


def test_teaser_header_before_the_article_is_dropped_not_truncating():
    text = "Support Our Journalism\nMost Popular\n" + "The article itself starts here and it goes on with many words to be a real paragraph of news text.\n"
    assert body_text(make_document("x.txt", text, "x.txt")).startswith("The article itself")


def test_html_goes_through_trafilatura(tmp_path: Path):
    (tmp_path / "ferry.html").write_text(HTML_PAGE, encoding="utf-8")
    [document] = load_documents([tmp_path]).documents
    assert document.id == "ferry.html"
    assert document.title == "Kelbrook ferry line opens"
    assert document.date == "2021-03-03"
    assert "opened a ferry line" in document.text
    assert "cookies" not in body_text(document) and "Sport" not in body_text(document)


def test_jsonl_articles_and_bad_lines(tmp_path: Path):
    lines = [
        json.dumps({"id": "a1", "title": "Ferry", "date": "2021-03-03", "url": "http://x/a1", "text": "The ferry line opened on Tuesday in the harbour town."}),
        "{not json",
        json.dumps({"title": "no text"}),
        json.dumps({"text": "A second article without an id, about a bridge that was finished."}),
    ]
    (tmp_path / "news.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = load_documents([tmp_path])
    assert [d.id for d in result.documents] == ["a1", "news.jsonl#4"]
    assert result.documents[0].date == "2021-03-03" and result.documents[0].source == "http://x/a1"
    assert [(p.line, "malformed JSON" in p.reason or "text" in p.reason) for p in result.problems] == [(2, True), (3, True)]
    assert all("news.jsonl" in str(p) for p in result.problems)


def test_unreadable_files_are_skipped_with_a_warning(tmp_path: Path):
    (tmp_path / "good.txt").write_text("A readable article about the harbour ferry that opened on Tuesday.\n", encoding="utf-8")
    (tmp_path / "empty.txt").write_text("   \n", encoding="utf-8")
    (tmp_path / "binary.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    (tmp_path / "controls.txt").write_bytes(bytes(range(1, 32)) * 40)  # no NUL, still not text
    (tmp_path / "notes.pdf").write_bytes(b"%PDF-1.4")  # unsupported types inside a folder are ignored
    result = load_documents([tmp_path])
    assert [d.id for d in result.documents] == ["good.txt"]
    reasons = {Path(p.path).name: p.reason for p in result.problems}
    assert set(reasons) == {"empty.txt", "binary.txt", "controls.txt"}
    assert "empty" in reasons["empty.txt"] and "binary" in reasons["binary.txt"] and "binary" in reasons["controls.txt"]


# The Windows "ANSI" encoding: £, curly quotes and dashes are single bytes that are not UTF-8.
TRANSFER_STORY = (
    "Mutu joins Juventus\n\n"
    "The striker moved for a transfer fee of \u00a315.8m \u2013 a club record \u2013 and said he was "
    "\u201cdelighted\u201d to sign for the Italian champions after months of talks.\n"
)


def test_a_file_saved_in_a_legacy_encoding_is_read_with_a_warning(tmp_path: Path):
    (tmp_path / "transfer.txt").write_bytes(TRANSFER_STORY.encode("cp1252"))
    result = load_documents([tmp_path])
    [document] = result.documents
    assert result.problems == []
    assert document.text == TRANSFER_STORY  # the decoded text is what is stored and cited
    assert "\u00a315.8m" in body_text(document)
    [warning] = result.warnings
    assert "transfer.txt" in str(warning) and "cp1252" in str(warning)


def test_re_saving_an_article_in_another_encoding_keeps_it_unchanged(tmp_path: Path):
    utf8, cp1252 = tmp_path / "utf8", tmp_path / "cp1252"
    utf8.mkdir()
    cp1252.mkdir()
    (utf8 / "transfer.txt").write_text(TRANSFER_STORY, encoding="utf-8")
    (cp1252 / "transfer.txt").write_bytes(TRANSFER_STORY.encode("cp1252"))
    [before] = load_documents([utf8]).documents
    [after] = load_documents([cp1252]).documents
    # same id and same content hash: an index update keeps the article and embeds nothing again
    assert (after.id, after.content_hash) == (before.id, before.content_hash)


def test_bytes_that_cp1252_leaves_undefined_are_read_as_latin1(tmp_path: Path):
    (tmp_path / "odd.txt").write_bytes(b"Prices at the caf\xe9 rose by 5 per cent \x81 this year, traders said.\n")
    result = load_documents([tmp_path])
    assert "caf\u00e9" in result.documents[0].text
    assert "latin-1" in str(result.warnings[0])


def test_missing_path_is_an_error(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_documents([tmp_path / "nope"])


@pytest.mark.parametrize("text, iso", [
    ("October 9, 2022", "2022-10-09"), ("date 2022-10-09 The", "2022-10-09"), ("9 Oct 2022", "2022-10-09"),
    ("Thursday, April 18, 2024", "2024-04-18"), ("in the year 2018", None), ("February 30, 2022", None),
])
def test_parse_date(text, iso):
    assert parse_date(text) == iso


def test_near_duplicates_are_detected(sample_documents):
    config = DedupConfig()
    signatures = {d.id: minhash_signature(body_text(d), config) for d in sample_documents}
    groups = near_duplicate_groups(signatures, config)
    assert groups == {"000_c843eb08c4d7e257.txt": "000_c843eb08c4d7e257.txt", "001_066d803ddee4351a.txt": "000_c843eb08c4d7e257.txt"}


def test_find_body_spans_point_into_the_text():
    text = "Title line of a story\n\nFirst paragraph of the story, long enough to count as the start of the article body, with twenty words or more.\nNext Story\nTeaser"
    spans = find_body(text)
    assert [text[s.start : s.end] for s in spans] == [
        "Title line of a story",
        "First paragraph of the story, long enough to count as the start of the article body, with twenty words or more.",
    ]


def test_a_file_of_whole_pages_keeps_every_page(tmp_path: Path):
    # Each scraped page ends in "Previous Story" / "Next Story" / "Latest from" teasers. Only the
    # last page's teasers are a tail: below the others lies more article text than above them.
    page = (SAMPLE_CORPUS / "000_c843eb08c4d7e257.txt").read_text(encoding="utf-8")
    (tmp_path / "pages.txt").write_text("\n".join([page] * 40), encoding="utf-8")
    result = load_documents([tmp_path])
    body = body_text(result.documents[0])
    assert body.count("Nevertheless, officially Pakistan is tight-lipped") == 40
    assert not body.rstrip().endswith(page.rstrip().splitlines()[-1])  # the last page's tail is cut
    assert result.warnings == []  # little was dropped, nothing to report


def test_a_subheading_that_reads_like_a_tail_marker_cuts_nothing():
    paragraph = "The council of Kelbrook opened a ferry line to the islands on Tuesday, the first new route in a decade, officials said at the quay."
    text = f"Harbour town opens new ferry line\n\n{paragraph}\n\nRelated\n\n{paragraph.replace('Tuesday', 'Friday')}\n\n{paragraph.replace('Tuesday', 'Sunday')}\n"
    body = body_text(make_document("ferry.txt", text, "ferry.txt"))
    assert "on Friday" in body and "on Sunday" in body
    assert "Related" not in body


def test_dropping_much_of_a_document_is_reported(tmp_path: Path):
    headlines = "\n".join(f"Kelbrook headline number {n} about the harbour" for n in range(12))
    (tmp_path / "ferry.txt").write_text(SCRAPED_PAGE + "More from Kelbrook\n" + headlines + "\n", encoding="utf-8")
    result = load_documents([tmp_path])
    [document] = result.documents
    assert "headline number" not in body_text(document)
    [warning] = result.warnings
    assert "ferry.txt" in str(warning) and "% of 'ferry.txt' left out as page boilerplate" in str(warning)


def test_a_huge_line_is_article_text_not_boilerplate():
    # one paragraph of 100 KB that mentions newsletters and signing up again and again: no rule
    # drops a line that long, and no pattern backtracks over it once per mention
    sentence = "The newsletter said residents who sign up early get a discount on the ferry. "
    text = "Ferry discount\n\n" + sentence * 1300 + "\n"
    document = make_document("long.txt", text, "long.txt")
    assert body_text(document).count("sign up early") == 1300


@pytest.mark.parametrize("line", [
    "date" + " " * 30_000 + "of the ferry opening is not known",  # "\s*:?\s*" split spaces n ways
    "Sign up " + "for the newsletter " * 3000,  # a sign-up line far too long to be furniture
    "Subscribe " + "and the ferry pass costs less, the council said. " * 800,  # 40 KB is no notice
])
def test_hostile_long_lines_are_cleaned_and_kept(line):
    text = "Ferry news\n\n" + line + "\n"
    assert body_text(make_document("x.txt", text, "x.txt")).endswith(line.strip())


def test_reading_can_show_progress(capsys):
    result = load_documents([SAMPLE_CORPUS], progress=True)
    assert len(result.documents) == 5
    assert "reading" in capsys.readouterr().err
