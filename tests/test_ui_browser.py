"""The chat page in a real headless Chromium, served over a real index (sample corpus plus an
article full of markup), plus the ``/ask`` endpoint through gradio_client.

Needs /usr/bin/chromium (``scripts/install_browser.sh``); skipped without it unless CI is set.
"""
from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import pytest

from rag.embedding import Embedder
from rag.ingest import SAMPLE_CORPUS, load_documents
from rag.store import build_index

os.environ.setdefault("HF_HUB_OFFLINE", "1")

pytestmark = [
    pytest.mark.browser,
    # gradio's queue statistics call pandas APIs that pandas 3 deprecates; not ours to fix
    pytest.mark.filterwarnings("ignore:'future.no_silent_downcasting' is deprecated"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
TIMEOUT_MS = 60_000
SHOTS = Path(os.environ.get("UI_SHOTS", "/tmp/ui_shots"))

MEDIATE = "How much money is Russia putting into the gas pipeline?"
XSS_ARTICLE = """Zarvonian harbour festival draws record crowds

KELBROOK: The Zarvonian harbour festival took place on 3 March 2021 in the town of Kelbrook, where a banner reading <script>alert(1)</script> hung over the quay.

The festival website showed <img src=x onerror=alert(1)> instead of a photograph of the boats, and the printed programme said ${alert(2)} and {{constructor}} where the dates belonged.

More than 4,000 visitors watched the lantern parade along the quay, and fishing crews opened their boats to the public for the first time since the harbour was rebuilt.
"""
UPLOADED_ARTICLE = """Volunteers repaint the Quillmere lighthouse

QUILLMERE: Fourteen volunteers repainted the Quillmere lighthouse in teal over two weekends in June 2020, the harbour trust said on Monday.

The trust had asked for help after storms stripped the old white paint from the tower. Local schools donated brushes and ladders, and a bakery fed the crews.

The lighthouse, built in 1871, is no longer used by ships but remains the best known landmark on the coast.
"""


def _chromium_or_skip() -> None:
    if CHROMIUM.exists():
        return
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{CHROMIUM} is missing on CI: run scripts/install_browser.sh before the tests")
    pytest.skip(f"{CHROMIUM} is not installed (run scripts/install_browser.sh to enable the browser tests)")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The page served on a free port over the sample corpus plus the markup article."""
    from ui.app import serve

    root = tmp_path_factory.mktemp("browser")
    corpus = root / "corpus"
    shutil.copytree(SAMPLE_CORPUS, corpus)
    (corpus / "zarvon_festival.txt").write_text(XSS_ARTICLE, encoding="utf-8")
    index_dir = root / "index"
    embedder = Embedder().warm_up()
    build_index(load_documents([corpus]).documents, index_dir, embedder)
    port = _free_port()
    demo = serve(index_dir, host="127.0.0.1", port=port, embedder=embedder, block=False)
    yield {"url": f"http://127.0.0.1:{port}/", "index_dir": index_dir, "root": root, "demo": demo}
    demo.close()


@pytest.fixture(scope="module")
def browser(server):
    _chromium_or_skip()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture()
def page(browser, server):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.dialogs = []
    page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(server["url"])
    page.wait_for_selector("#rag-question textarea")
    yield page
    context.close()


def ask(page, question: str) -> str:
    """Type ``question``, press Ask, and return the text of the new answer in the chat."""
    bot = page.locator('#rag-chat [data-testid="bot"]')
    before = bot.count()
    page.fill("#rag-question textarea", question)
    page.click("#rag-ask")
    page.wait_for_function(
        "n => document.querySelectorAll('#rag-chat [data-testid=\"bot\"]').length > n", arg=before
    )
    page.wait_for_function("() => document.querySelector('#rag-question textarea').value === ''")
    return bot.nth(before).inner_text()


def test_answer_with_highlighted_source(page):
    answer = ask(page, MEDIATE)
    assert "$2 billion" in answer and "[1]" in answer
    chat_mark = page.locator('#rag-chat mark.answer').last
    assert chat_mark.inner_text() == "$2 billion"
    card = page.locator("#rag-sources-panel #rag-src-1")
    card.wait_for()
    assert "$2 billion" in card.locator("mark.answer").first.inner_text()
    assert "004_c0bc88ef037bc82c.txt" in card.inner_text()

    # the whole article opens with the quote highlighted and scrolled into its box
    card.locator("summary").click()
    quote = card.locator(".rag-article mark.quote")
    quote.wait_for()
    assert "gas pipeline" in quote.inner_text()
    assert page.evaluate(
        """() => { const box = document.querySelector('#rag-src-1 .rag-article');
                   const mark = box.querySelector('mark.quote');
                   const b = box.getBoundingClientRect(), m = mark.getBoundingClientRect();
                   return box.scrollTop > 0 && m.top >= b.top && m.top < b.bottom; }"""
    )
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "desktop.png"), full_page=True)
    page.set_viewport_size({"width": 420, "height": 900})
    page.wait_for_timeout(300)
    page.screenshot(path=str(SHOTS / "narrow.png"), full_page=True)

    # the [1] marker in the answer points at the first source card without leaving the page
    url = page.url
    page.locator('#rag-chat a.cite[href="#rag-src-1"]').last.click()
    page.wait_for_selector("#rag-src-1.rag-flash")
    assert page.url == url

    # feedback on the answer
    page.click("#rag-up")
    page.wait_for_selector("#rag-feedback-note:has-text('saved')")


def test_unanswerable_question_abstains(page):
    answer = ask(page, "Who won the 2018 Tour de France?")
    assert answer.startswith("Not in these articles:")
    assert "Closest passages" in answer
    assert page.locator("#rag-sources-panel .rag-related").count() >= 1
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "abstain.png"), full_page=True)


def test_example_click_asks_it(page):
    page.locator("#rag-examples button", has_text="gas pipeline").click()
    page.wait_for_selector('#rag-chat [data-testid="bot"]')
    page.wait_for_selector("#rag-src-1")
    assert "$2 billion" in page.locator('#rag-chat [data-testid="bot"]').last.inner_text()


def test_empty_question_shows_the_error(page):
    answer = ask(page, "   ")
    assert "Can't ask that" in answer and "empty" in answer


def test_markup_in_articles_renders_as_text(page):
    answer = ask(page, "When did the Zarvonian harbour festival take place?")
    assert "3 March 2021" in answer
    assert "<script>alert(1)</script>" in answer  # the cited sentence, shown as text
    card = page.locator("#rag-src-1")
    assert "zarvon_festival.txt" in card.inner_text()
    card.locator("summary").click()
    article = card.locator(".rag-article")
    article.wait_for()
    text = page.inner_text("body")
    assert "<script>alert(1)</script>" in text
    assert "<img src=x onerror=alert(1)>" in text
    assert "${alert(2)}" in text and "{{constructor}}" in text
    assert page.locator("#rag-sources-panel img, #rag-chat .message-content img").count() == 0
    assert page.locator("#rag-sources-panel script, #rag-chat .message-content script").count() == 0
    page.wait_for_timeout(500)
    assert page.dialogs == []
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "markup.png"), full_page=True)


def _choose_file(page, path: Path) -> None:
    """Choose ``path`` in the upload box of the Articles tab and wait until gradio lists it."""
    page.get_by_role("tab", name="Articles").click()
    page.locator("#rag-upload input[type=file]").first.set_input_files(str(path))
    page.wait_for_function(
        "name => (document.querySelector('#rag-upload') || {}).innerText?.includes(name)",
        arg=path.name, timeout=3 * TIMEOUT_MS,  # a loaded 2-core machine can be slow to upload
    )


def _upload(page, path: Path, done: str) -> str:
    """Choose ``path`` on the Articles tab, press "Add to index", return the note once it shows ``done``."""
    _choose_file(page, path)
    page.click("#rag-add")
    page.wait_for_selector(f"#rag-upload-note :text('{done}')")
    return page.inner_text("#rag-upload-note")


def _temporary_copies(name: str) -> set[Path]:
    """Files called ``name`` in gradio's temp folder (other runs may have left some there)."""
    from gradio.utils import get_upload_folder

    return set(Path(get_upload_folder()).rglob(name))


def test_upload_then_ask(page, server):
    article = server["root"] / "quillmere_lighthouse.txt"
    article.write_text(UPLOADED_ARTICLE, encoding="utf-8")
    page.get_by_role("tab", name="Articles").click()
    assert not page.locator("#rag-replace input[type=checkbox]").is_checked()  # replacing is opt-in
    earlier = _temporary_copies(article.name)
    note = _upload(page, article, "Added 1 article")
    assert "upload/quillmere_lighthouse.txt" in note
    assert str(server["root"]) not in note and "/tmp" not in note  # file names, no server paths
    page.wait_for_selector("#rag-corpus :text('Volunteers repaint the Quillmere lighthouse')")
    assert "7 articles" in page.inner_text(".rag-header")
    assert (server["index_dir"] / "uploads" / "quillmere_lighthouse.txt").is_file()
    assert _temporary_copies(article.name) <= earlier  # gradio's copy is gone once kept
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "articles.png"), full_page=True)

    page.get_by_role("tab", name="Ask").click()
    answer = ask(page, "How many volunteers repainted the Quillmere lighthouse?")
    assert "Fourteen" in answer
    assert "upload/quillmere_lighthouse.txt" in page.inner_text("#rag-src-1")


def test_same_name_upload_is_refused_until_replace_is_ticked(page, server):
    other = server["root"] / "other" / "quillmere_lighthouse.txt"
    other.parent.mkdir(exist_ok=True)
    other.write_text(UPLOADED_ARTICLE.replace("Fourteen volunteers", "Twenty-two volunteers"), encoding="utf-8")
    kept = server["index_dir"] / "uploads" / "quillmere_lighthouse.txt"
    if not kept.is_file():  # this test alone: the first upload
        first = server["root"] / "quillmere_lighthouse.txt"
        first.write_text(UPLOADED_ARTICLE, encoding="utf-8")
        _upload(page, first, "Added 1 article")
        page.reload()
    earlier = _temporary_copies(other.name)
    note = _upload(page, other, "Not added")
    assert "already indexed with different content" in note and "upload/quillmere_lighthouse.txt" in note
    assert "Replace articles with the same name" in note
    assert "Fourteen" in kept.read_text(encoding="utf-8")
    assert _temporary_copies(other.name) <= earlier  # refused uploads are deleted too

    page.locator("#rag-replace input[type=checkbox]").check()
    note = _upload(page, other, "Replaced 1")
    assert "upload/quillmere_lighthouse.txt" in note
    assert "Twenty-two" in kept.read_text(encoding="utf-8")
    page.get_by_role("tab", name="Ask").click()
    answer = ask(page, "How many volunteers repainted the Quillmere lighthouse?")
    assert "Twenty-two" in answer


def test_ask_endpoint_through_gradio_client(server):
    from gradio_client import Client

    client = Client(server["url"], verbose=False)
    record = client.predict(MEDIATE, [], api_name="/ask")
    assert {"question", "answer", "sentence", "abstained", "confidence", "citations", "passages", "timings_ms"} <= set(record)
    assert record["question"] == MEDIATE and record["answer"] == "$2 billion" and not record["abstained"]
    citation = record["citations"][0]
    assert {"n", "doc", "title", "date", "start", "end", "quote"} <= set(citation)
    follow_up = client.predict("When did he make that offer?", f'["{MEDIATE}"]', api_name="/ask")
    assert follow_up["question"] == "When did he make that offer?"


# --- issue #14: entities in the chat (8), /ask history limits (9), asks during indexing (7) ------

REWARD = "What reward did the US offer for information on Hafiz Saeed?"


def test_example_answer_shows_dollars_and_apostrophes(page):
    page.locator("#rag-examples button", has_text="What reward did the US offer").click()
    page.wait_for_selector("#rag-src-1")
    answer = page.locator('#rag-chat [data-testid="bot"]').last.inner_text()
    assert "$10 million" in answer and "&#" not in answer and "\\$" not in answer
    # the quoted sentence holds "$10 million … $10 million": no LaTeX, no entity, no backslash
    assert page.locator("#rag-chat .katex, #rag-chat math").count() == 0

    answer = ask(page, "What did Imran Khan's visit to Moscow achieve?")
    asked = page.locator('#rag-chat [data-testid="user"]').last.inner_text()
    assert asked.strip() == "What did Imran Khan's visit to Moscow achieve?"  # not "Khan&#x27;s"
    assert "&#" not in answer


def test_history_items_are_held_to_the_question_limit(server):
    from gradio_client import Client

    client = Client(server["url"], verbose=False)
    record = client.predict(MEDIATE, ["x" * 200_000], api_name="/ask")
    assert record["error"] and "characters long" in record["error"] and record["answer"] is None
    record = client.predict(MEDIATE, ["Who?"] * 21, api_name="/ask")
    assert record["error"] and "20" in record["error"]


def test_asks_are_answered_while_an_upload_is_being_indexed(page, server):
    import fcntl
    import threading
    import time

    from gradio_client import Client

    from ui.app import ASK_QUEUE, UPLOAD_QUEUE
    from ui.uploads import INDEXING_NICE

    groups = {fn.name: fn.concurrency_id for fn in server["demo"].fns.values()}
    assert groups["respond"] == groups["api_ask"] == ASK_QUEUE and groups["upload"] == UPLOAD_QUEUE

    article = server["root"] / "harbour_ferry.txt"
    article.write_text(UPLOADED_ARTICLE.replace("Quillmere", "Dunhallow"), encoding="utf-8")
    client = Client(server["url"], verbose=False)
    # another writer (as `rag index --add` would) holds the index, so this upload stays in its
    # indexing step for as long as the test needs, with no clock involved
    with open(server["index_dir"] / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            _choose_file(page, article)
            page.click("#rag-add")
            indexing = None
            for _ in range(3000):  # bounded: until the upload's indexing thread has started
                indexing = next((t for t in threading.enumerate() if t.name == "rag-indexing"), None)
                if indexing is not None and indexing.native_id is not None:  # started, not starting
                    break
                time.sleep(0.05)
            assert indexing is not None, "the upload did not start indexing in a worker thread"
            assert os.getpriority(os.PRIO_PROCESS, indexing.native_id) == INDEXING_NICE
            page.wait_for_selector("#rag-upload :text('Embedding 1 article')")  # the progress bar

            record = client.predict(MEDIATE, [], api_name="/ask")  # the API answers
            assert "$2 billion" in record["answer"]
            page.get_by_role("tab", name="Ask").click()
            assert "$2 billion" in ask(page, MEDIATE)  # and so does the page
            assert indexing.is_alive() and "Added" not in page.inner_text("#rag-upload-note")
            page.get_by_role("tab", name="Articles").click()
            SHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SHOTS / "indexing.png"), full_page=True)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    page.get_by_role("tab", name="Articles").click()
    page.wait_for_selector("#rag-upload-note :text('Added 1 article')")
    assert "upload/harbour_ferry.txt" in page.inner_text("#rag-upload-note")
