"""Hostile content in a real headless Chromium against `rag serve` (loopback, a copy of the
real index): script in a question, in an uploaded file's name and title, in its text and
in pasted addresses is shown as text. No dialog opens and no `on*` attribute or <script>
from a payload lands in the page."""
import os
import shutil
import sys

import pytest

from conftest import free_port, requires_real
from test_chat_browser import ARGS, CHROMIUM, sync_playwright

pytestmark = [
    pytest.mark.browser, requires_real,
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (make browser-deps installs it)"),
    pytest.mark.skipif(sync_playwright is None, reason="playwright is not installed (make browser-deps installs it)"),
]

QUESTION = "<img src=x onerror=alert('q1')> What does the quokka kettle weigh? <script>alert('q2')</script>"
TITLE = "<img src=x onerror=alert('t')> quokka kettle"
NOTE = (f"# {TITLE}\n\nThe quokka kettle weighs 2.4 kg. <script>alert('body')</script> "
        "<svg onload=alert('svg')></svg> [link](javascript:alert('md'))\n")
FILE_NAME = "<img src=x onerror=alert('f')>.md"
URLS = "javascript:alert('u1')\nhttp://127.0.0.1:9/<script>alert('u2')</script>"

FOUND_ON_ATTRIBUTES = """() => Array.from(document.querySelectorAll('*')).flatMap(e =>
  Array.from(e.attributes).filter(a => a.name.toLowerCase().startsWith('on')).map(a => e.tagName + ' ' + a.name))"""
SELECTORS = ("#chat script, #doc-table script, #ingest-report script, #chat img[src='x'], #doc-table img, "
             "#ingest-report img, svg[onload]")
FOUND_SCRIPTS = f"() => Array.from(document.querySelectorAll(\"{SELECTORS}\")).map(e => e.outerHTML)"


@pytest.fixture(scope="module")
def hostile_server(local_server, tmp_path_factory):
    from rag.config import Settings
    index = tmp_path_factory.mktemp("hostile") / "index"
    shutil.copytree(Settings.from_env().index_dir, index, symlinks=True, ignore=shutil.ignore_patterns("*.state"))
    port = free_port()
    env = dict(os.environ, HF_HUB_OFFLINE="1", RAG_INDEX_DIR=str(index), RAG_CONTEXT_MODE="retrieval")
    return local_server([sys.executable, "-m", "rag", "serve", "--port", str(port)], f"http://127.0.0.1:{port}/",
                        timeout=240, env=env)


def _ask(page, question):
    count = page.locator("#chat .meta").count()
    page.fill("#question textarea", question)
    page.keyboard.press("Enter")
    page.wait_for_function(f"document.querySelectorAll('#chat .meta').length > {count}", timeout=240_000)


def test_payloads_in_chat_and_documents_tab_stay_text(hostile_server, tmp_path):
    note = tmp_path / FILE_NAME
    note.write_text(NOTE, encoding="utf-8")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(locale="en-US", viewport={"width": 1200, "height": 900})
        dialogs = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(hostile_server)
        page.wait_for_selector("#question textarea", timeout=60_000)
        _ask(page, QUESTION)                                    # before the note: refused, shown as typed
        assert QUESTION in page.inner_text("#chat")

        page.get_by_role("tab", name="Documents").click()
        page.set_input_files("#upload input[type=file]", str(note))
        page.fill("#urls textarea", URLS)
        page.click("#ingest")
        page.wait_for_function("document.querySelector('#ingest-report').innerText.includes('added')",
                               timeout=240_000)
        report = page.inner_text("#ingest-report")
        assert "added 1" in report and "javascript:alert('u1')" in report, report
        page.wait_for_function("document.querySelector('#doc-table').innerText.includes('quokka kettle')",
                               timeout=30_000)
        assert TITLE in page.inner_text("#doc-table")           # the literal title, neither run nor double-escaped

        assert dialogs == []
        assert page.evaluate(FOUND_ON_ATTRIBUTES) == []
        assert page.evaluate(FOUND_SCRIPTS) == []
        browser.close()
