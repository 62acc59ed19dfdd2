"""A real headless Chromium against `rag serve` on a free loopback port, real model."""
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

from conftest import ROOT, free_port, requires_real

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
try:
    from playwright.sync_api import sync_playwright
except ImportError:      # pragma: no cover - make test installs it
    sync_playwright = None

pytestmark = [
    pytest.mark.browser, requires_real,
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (make browser-deps installs it)"),
    pytest.mark.skipif(sync_playwright is None, reason="playwright is not installed (make browser-deps installs it)"),
]
# `make screenshots` refreshes docs/screenshots; a test run writes them to a temp folder and
# leaves the checkout clean.
SHOTS = Path(os.environ.get("RAG_SCREENSHOTS") or tempfile.mkdtemp(prefix="rag-shots-"))
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def server(local_server):
    port = free_port()
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    return local_server([sys.executable, "-m", "rag", "serve", "--port", str(port)], f"http://127.0.0.1:{port}/",
                        timeout=240, env=env)


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def _ask(page, question: str):
    page.fill("#question textarea", question)
    page.keyboard.press("Enter")
    count = page.locator("#chat .meta").count()
    page.wait_for_function(f"document.querySelectorAll('#chat .meta').length > {count}", timeout=180_000)


def test_chinese_question_streams_a_cited_answer_and_the_citation_opens(server, browser):
    page = browser.new_page(viewport={"width": 1200, "height": 900}, locale="zh-CN")
    page.goto(server)
    page.wait_for_selector("#question textarea", timeout=60_000)
    _ask(page, "Gemma 4 采用什么许可证？")
    text = page.inner_text("#chat")
    assert "Apache 2.0" in text
    cite = page.locator("#chat a.cite").first
    assert cite.is_visible()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "chat.png"), full_page=True)
    cite.click()
    opened = page.locator("#chat details.source[open]").first
    opened.wait_for(timeout=5_000)
    assert "Apache 2.0" in opened.inner_text()
    assert opened.locator("mark").count() >= 1
    page.screenshot(path=str(SHOTS / "citation.png"), full_page=True)
    page.close()


def test_a_typing_slip_is_shown_as_the_question_looked_up(server, browser):
    page = browser.new_page(viewport={"width": 1200, "height": 900}, locale="zh-CN")
    page.goto(server)
    page.wait_for_selector("#question textarea", timeout=60_000)
    _ask(page, "gemma 4 能在树梅派上运行吗？")
    assert page.locator("#chat .spelled").first.inner_text() == "按此查找：gemma 4 能在树莓派上运行吗？"
    page.close()


def test_two_browser_sessions_do_not_share_history(server, browser):
    a = browser.new_context(locale="en-US").new_page()
    b = browser.new_context(locale="zh-TW").new_page()
    for page in (a, b):
        page.goto(server)
        page.wait_for_selector("#question textarea", timeout=60_000)
    _ask(a, "Which model sizes does Gemma 4 come in?")
    _ask(b, "Gemma 4 支援多長的上下文視窗？")
    text_a, text_b = a.inner_text("#chat"), b.inner_text("#chat")
    assert "E2B" in text_a and "視窗" not in text_a
    assert "256K" in text_b and "Which model sizes" not in text_b
    a.click("#new-chat")
    a.wait_for_function("!document.querySelector('#chat').innerText.includes('Which model sizes')", timeout=10_000)
    assert "Gemma 4 支援多長的上下文視窗" in b.inner_text("#chat")


def test_phone_width_layout_is_usable(server, browser):
    page = browser.new_page(viewport={"width": 390, "height": 844}, locale="zh-CN", is_mobile=True)
    page.goto(server)
    page.wait_for_selector("#question textarea", timeout=60_000)
    box = page.locator("#question textarea").bounding_box()
    assert box and box["width"] > 200 and box["x"] >= 0 and box["x"] + box["width"] <= 390
    page.screenshot(path=str(SHOTS / "phone.png"), full_page=True)
    page.close()


def test_server_serves_no_files_outside_its_own_assets(server):
    import urllib.error
    import urllib.request
    readme = str(ROOT / "README.md")
    for path in ("gradio_api/file=/etc/passwd", f"gradio_api/file={readme}", "file=/etc/passwd",
                 f"gradio_api/file={ROOT}/models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf.verified.json"):
        try:
            status = urllib.request.urlopen(server + path, timeout=10).status
        except urllib.error.HTTPError as e:
            status = e.code
        assert status in (403, 404), (path, status)
