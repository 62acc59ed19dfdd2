"""Conversations in a real headless Chromium against `rag serve` (real model, short answers):
Stop mid-answer, New chat mid-answer, typing while an answer streams, a reload that keeps
the conversation, Markdown export with footnotes, and Copy giving text, not HTML."""
import os
import sys
import time

import pytest

from conftest import free_port
from test_chat_browser import ARGS, CHROMIUM, pytestmark, sync_playwright  # noqa: F401 - same guards

LONG = "Why did Google release Gemma 4 under Apache 2.0, and what does that mean for companies?"


@pytest.fixture(scope="module")
def server(local_server, tmp_path_factory):
    port = free_port()
    data = tmp_path_factory.mktemp("conversations")      # saved conversations of this run only
    env = dict(os.environ, HF_HUB_OFFLINE="1", RAG_MAX_TOKENS="120", RAG_DATA_DIR=str(data))
    return local_server([sys.executable, "-m", "rag", "serve", "--port", str(port)], f"http://127.0.0.1:{port}/",
                        timeout=240, env=env)


@pytest.fixture(scope="module")
def context():
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        ctx = browser.new_context(locale="en-US", permissions=["clipboard-read", "clipboard-write"])
        yield ctx
        browser.close()


def _open(context, server):
    page = context.new_page()
    page.goto(server)
    page.wait_for_selector("#question textarea", timeout=60_000)
    page.wait_for_function("document.querySelector('#model-status').innerText.includes('ready')", timeout=240_000)
    return page


def _chat(page) -> str:
    return page.inner_text("#chat")


def _send(page, question: str):
    page.fill("#question textarea", question)
    page.keyboard.press("Enter")
    page.wait_for_selector("#stop", state="visible", timeout=10_000)


def _wait_streaming(page, question: str):
    """Until the answer's first words are on screen (past the "…" placeholder)."""
    page.wait_for_function(
        "q => { const t = document.querySelector('#chat').innerText; const i = t.lastIndexOf(q);"
        " return i >= 0 && t.slice(i + q.length).replace(/[\\s…]/g, '').length > 3; }",
        arg=question, timeout=180_000)


def _wait_answer(page):
    page.wait_for_selector("#send", state="visible", timeout=180_000)


def test_stop_ends_the_answer_at_once_and_keeps_the_text(context, server):
    page = _open(context, server)
    _send(page, LONG)
    _wait_streaming(page, LONG)
    clicked = time.perf_counter()
    page.click("#stop")
    page.wait_for_selector("#chat .stopped", timeout=10_000)
    page.wait_for_selector("#send", state="visible", timeout=10_000)
    seconds = time.perf_counter() - clicked
    print(f"stop -> stopped on screen: {seconds:.2f} s")
    assert seconds < 3.0
    text = _chat(page)
    time.sleep(2)
    assert _chat(page) == text                         # nothing streams after Stop
    assert "stopped" in text and LONG in text
    # the model is free: the next question is answered
    _send(page, "Which model sizes does Gemma 4 come in?")
    _wait_answer(page)
    assert "E2B" in _chat(page) or "E4B" in _chat(page)
    page.close()


def test_typing_while_streaming_is_kept_and_never_dropped(context, server):
    page = _open(context, server)
    page.click("#new-chat")
    _send(page, LONG)
    page.fill("#question textarea", "What context window does Gemma 4 support?")
    _wait_streaming(page, LONG)
    page.keyboard.press("Enter")                       # sent while the answer streams
    time.sleep(1.5)
    assert page.input_value("#question textarea") == "What context window does Gemma 4 support?"
    assert page.is_visible("#stop") and not page.is_visible("#send")
    _wait_answer(page)
    assert page.input_value("#question textarea") == "What context window does Gemma 4 support?"
    assert _chat(page).count("What context window") == 0           # not sent, not lost
    page.keyboard.press("Enter")                       # now it goes
    _wait_answer(page)
    page.wait_for_function("document.querySelector('#chat').innerText.includes('What context window')")
    assert page.input_value("#question textarea") == ""
    page.close()


def test_new_chat_mid_answer_clears_for_good(context, server):
    page = _open(context, server)
    _send(page, LONG)
    _wait_streaming(page, LONG)
    page.click("#new-chat")
    page.wait_for_function("!document.querySelector('#chat').innerText.includes('Apache 2.0, and what')",
                           timeout=10_000)
    page.wait_for_selector("#send", state="visible", timeout=10_000)
    time.sleep(4)                                      # the old answer must not come back
    assert "Apache 2.0, and what" not in _chat(page)
    page.close()


def test_reload_keeps_the_conversation_and_export_and_copy_give_text(context, server):
    page = _open(context, server)
    page.click("#new-chat")
    _send(page, "Gemma 4 采用什么许可证？")
    _wait_answer(page)
    assert "Apache 2.0" in _chat(page)
    page.reload()
    page.wait_for_function("(document.querySelector('#chat a.cite') || false) && "
                           "document.querySelector('#chat').innerText.includes('Gemma 4 采用什么许可证')",
                           timeout=60_000)
    assert "Apache 2.0" in _chat(page) and page.locator("#chat a.cite").count() >= 1

    # Copy on the answer: Markdown text with [n] and the sources, no HTML
    page.locator("#chat .bot-row").last.hover()
    page.locator("#chat button[aria-label='Copy message']").last.click()
    time.sleep(0.5)
    copied = page.evaluate("navigator.clipboard.readText()")
    assert "Apache 2.0" in copied and "[1]" in copied
    assert "出处:\n[1]" in copied or "Sources:\n[1]" in copied
    assert "<a" not in copied and "<details" not in copied

    # Export: the saved conversation as Markdown with footnotes
    page.click("#conversations")
    page.click("#conv-export")
    link = page.locator("#conv-file a").first
    link.wait_for(timeout=20_000)
    body = page.request.get(link.get_attribute("href")).text()
    assert body.startswith("# Gemma 4 采用什么许可证？") and "## Gemma 4 采用什么许可证？" in body
    assert "[^1-1]" in body and "\n[^1-1]: " in body and "“" in body
    page.close()
