"""Every user-supplied string reaches the page through `ui.safe`: one test per field that
carries user text (question, answer, document title, site, URL, file name, error line,
provenance title) with markup that would run script if inserted as HTML."""
from html.parser import HTMLParser

import pytest

from fakes import FakeChatModel
from rag.types import Answer, AnswerEvent
from rag.ui import ChatApp
from rag.ui_render import render_answer, render_streaming, safe

PAYLOAD = "<img src=x onerror=alert('q1')> What does the quokka kettle weigh? <script>alert(1)</script>"


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.attrs = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs += [name for name, _ in attrs]


def _inert(page_html: str) -> None:
    """No element or attribute from the payload survives as markup: parsed as a browser's
    tokenizer would, there is no <script> or <img> element and no on* attribute (escaped
    text inside a quoted attribute value, such as the copy text, is not markup)."""
    parsed = _Tags()
    parsed.feed(page_html)
    assert "script" not in parsed.tags and "img" not in parsed.tags
    assert not [a for a in parsed.attrs if a.lower().startswith("on")], parsed.attrs
    assert "<script" not in page_html.lower() and "<img" not in page_html.lower()


def _answer(**changes) -> Answer:
    citation = {"n": 1, "chunk_id": "note:0", "doc_id": "note", "title": "Kettle note", "url": None,
                "text": "The quokka kettle weighs 2.4 kg.", "start": 0, "end": 32, "score": 1.0}
    answer = {"answer": "The quokka kettle weighs 2.4 kg [1].", "citations": [citation], "unsupported": [],
              "refused": False, "timings": {"ttft_s": 1.0, "tokens_per_s": 10.0, "completion_tokens": 9}}
    for key, value in changes.items():
        if key in citation or key in ("site", "document_text", "sources"):
            citation[key] = value
        else:
            answer[key] = value
    return Answer.from_json(answer)


def test_safe_escapes_markup_and_quotes_and_drops_control_characters():
    out = safe('"><svg onload=alert(1)>\u202e\x00')
    assert out == "&quot;&gt;&lt;svg onload=alert(1)&gt;"
    assert safe(None) == "" and safe(42) == "42"


@pytest.mark.parametrize("url", ["javascript:alert(1)", " JaVaScRiPt:alert(1)", "data:text/html,<script>x</script>",
                                 "vbscript:x", "//evil.example/x", ""])
def test_only_http_addresses_become_links(url):
    assert safe(url, url=True) == ""
    assert 'href=""' not in render_answer(_answer(url=url))     # no link at all


def test_an_http_address_is_escaped_inside_its_attribute():
    assert safe('https://a.example/?q="><script>', url=True) == "https://a.example/?q=&quot;&gt;&lt;script&gt;"


def test_question_field(tmp_settings):
    class NoModel:
        def stream(self, question, history=None, k=None, cancel=None):
            yield AnswerEvent(_answer(citations=[], answer="-"))
    app = ChatApp.__new__(ChatApp)
    app.settings, app.assistant = tmp_settings, NoModel()
    app.assistant.data = type("D", (), {"documents": {}})()
    messages = None
    for messages, _, _ in app.respond(PAYLOAD, [], [], "English"):
        pass
    user = messages[0]["content"]
    _inert(user)
    assert "&lt;img src=x onerror=alert(&#x27;q1&#x27;)&gt;" in user


def test_answer_field_streaming_and_final():
    _inert(render_streaming(PAYLOAD))
    html_out = render_answer(_answer(answer=PAYLOAD + " [1]", unsupported=["<b onmouseover=x>bad</b>"]))
    _inert(html_out)
    assert "&lt;script&gt;" in html_out


def test_document_title_field():
    out = render_answer(_answer(title=PAYLOAD))
    _inert(out)
    assert "&lt;img src=x" in out


def test_document_text_field():
    out = render_answer(_answer(text=PAYLOAD, end=len(PAYLOAD), document_text=PAYLOAD))
    _inert(out)


def test_site_and_url_fields():
    out = render_answer(_answer(url="https://ex.example/\"onmouseover=alert(1)", site="<b onclick=x>site</b>"))
    _inert(out)
    assert 'href="https://ex.example/&quot;onmouseover=alert(1)"' in out


def test_provenance_titles_and_snippets():
    source = {"number": 1, "title": PAYLOAD, "site": "<i onclick=x>", "snippet": PAYLOAD}
    out = render_answer(_answer(sources=[source]))
    _inert(out)


def test_documents_table_and_file_name_fields(tmp_settings, fake_embedder, tmp_path):
    from rag.chat import Assistant
    from rag.ingest import ingest
    ingest(tmp_settings, embedder=fake_embedder, progress=False)
    tmp_settings.context_mode = "retrieval"

    class Counter(FakeChatModel):
        name = "counter"
        chars_per_token = 2
    app = ChatApp(tmp_settings, Assistant(tmp_settings, llm=Counter(), embedder=fake_embedder))
    note = tmp_path / "note.md"
    note.write_text("# <img src=x onerror=alert('t')> quokka\n\nThe quokka kettle weighs 2.4 kg. "
                    "<script>alert('body')</script>", encoding="utf-8")
    bad = tmp_path / "<img src=x onerror=alert('f')>.txt"
    bad.write_bytes(b"")
    rows, report = app.add_documents([str(note), str(bad)], "javascript:alert('u')\n", "Auto")
    for row in rows:
        for cell in row:
            _inert(str(cell))
    assert any("&lt;img src=x onerror=alert(&#x27;t&#x27;)&gt; quokka" in str(r[0]) for r in rows)
    _inert(report)
    assert "onerror=alert(&#x27;f&#x27;)&gt;.txt" in report and "javascript:alert(&#x27;u&#x27;)" in report


def test_error_line_field(tmp_settings):
    from rag.errors import QuestionError

    class Failing:
        def stream(self, question, history=None, k=None, cancel=None):
            raise QuestionError(f"cannot use {PAYLOAD}")
            yield
    app = ChatApp.__new__(ChatApp)
    app.settings, app.assistant = tmp_settings, Failing()
    messages = None
    for messages, _, _ in app.respond("x y z", [], [], "English"):
        pass
    _inert(messages[-1]["content"])
    assert "⚠️" in messages[-1]["content"]
