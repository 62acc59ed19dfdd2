"""The chat in the browser (Gradio Blocks), a thin shell over `chat.Assistant.stream`.
Answers stream in; each [n] opens its chunk highlighted inside its document, with the
sources an article chunk cites; a Documents tab lists and adds documents. Session state
lives in gr.State (one history per browser tab); the one model sits behind a lock."""
from __future__ import annotations

import html
import os
import re
import threading
import time
import uuid
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from .chat import Assistant, Turn  # noqa: E402
from .config import Settings  # noqa: E402
from .errors import RagError  # noqa: E402

EXAMPLES = [
    "Gemma 4 采用什么许可证？",
    "Gemma 4 有哪些模型尺寸？",
    "Google 為什麼用 Apache 2.0 開放 Gemma 4？",
    "Gemma 4 支援多長的上下文視窗？",
    "Which model sizes does Gemma 4 come in?",
    "When did Gemma 4 become available on Google Cloud?",
]

STRINGS = {
    "en": {"title": "Gemma 4 Q&A", "subtitle": "Offline answers from the article and its 8 sources, every claim cited.",
           "placeholder": "Ask in 简体中文, 繁體中文 or English, then press Enter", "send": "Send", "new": "New chat",
           "chat": "Chat", "docs": "Documents", "examples": "Try one", "upload": "Add files (.html, .htm, .txt, .md)",
           "url": "…or paste web addresses (one per line)", "ingest": "Add to the index",
           "doc_table": "Indexed documents", "ttft": "first token", "sources": "Sources", "unsupported":
           "not supported by the documents", "cites": "cites", "whole": "whole document", "ui": "Interface"},
    "zh": {"title": "Gemma 4 问答", "subtitle": "离线回答，依据文章及其 8 个来源，每句话都有出处。",
           "placeholder": "用简体中文、繁體中文或 English 提问，按 Enter 发送", "send": "发送", "new": "新对话",
           "chat": "对话", "docs": "文档", "examples": "试试这些", "upload": "添加文件（.html、.htm、.txt、.md）",
           "url": "……或粘贴网址（每行一个）", "ingest": "加入索引", "doc_table": "已索引的文档",
           "ttft": "首字", "sources": "出处", "unsupported": "文档中找不到依据", "cites": "引用",
           "whole": "完整文档", "ui": "界面语言"},
}

CSS = """
#chat .cite { font-weight: 600; text-decoration: none; padding: 0 1px; cursor: pointer; }
#chat .unsupported { text-decoration: underline wavy #d97706; text-underline-offset: 3px; }
#chat .meta { font-size: 0.78em; opacity: 0.7; margin-top: 6px; }
#chat details.source { border-left: 3px solid #6366f1; padding: 2px 8px; margin: 6px 0; }
#chat details.source.flash { background: rgba(99, 102, 241, 0.12); }
#chat details.source .doc { white-space: pre-wrap; font-size: 0.9em; max-height: 22em; overflow: auto; }
#chat details.source mark { background: #fde68a; color: inherit; }
#chat .prov { font-size: 0.85em; margin: 4px 0 0 0; }
@media (max-width: 640px) { .gradio-container { padding: 4px !important; } #chat { height: 65vh !important; } }
"""

HEAD = """
<script>
document.addEventListener('click', function (e) {
  const a = e.target.closest && e.target.closest('a.cite');
  if (!a) return;
  e.preventDefault();
  const d = document.getElementById(a.dataset.cite);
  if (!d) return;
  d.open = true;
  d.scrollIntoView({behavior: 'smooth', block: 'nearest'});
  d.classList.add('flash');
  setTimeout(function () { d.classList.remove('flash'); }, 1500);
});
</script>
"""


def _language_of_ui(choice: str, question_lang: str | None = None) -> str:
    if choice == "English":
        return "en"
    if choice == "中文":
        return "zh"
    return "en" if question_lang == "en" else "zh"


def render_streaming(text: str) -> str:
    return html.escape(text)


def render_answer(answer: dict, ui: str = "zh") -> str:
    """The answer with clickable [n] markers, unsupported sentences marked, speed
    figures, and one expandable source per citation."""
    s = STRINGS[ui]
    uid = uuid.uuid4().hex[:8]
    body = html.escape(answer["answer"])
    for sentence in answer.get("unsupported", []):
        escaped = html.escape(sentence)
        if escaped and escaped in body:
            body = body.replace(escaped, f'<span class="unsupported" title="{s["unsupported"]}">{escaped}</span>', 1)
    known = {c["n"] for c in answer.get("citations", [])}

    def link(m: re.Match) -> str:
        n = int(m.group(1))
        if n not in known:
            return m.group(0)
        return f'<a class="cite" href="#c-{uid}-{n}" data-cite="c-{uid}-{n}">[{n}]</a>'
    body = re.sub(r"\[(\d+)\]", link, body)
    t = answer.get("timings", {})
    meta = ""
    if not answer.get("refused") or t.get("completion_tokens"):
        meta = (f'<div class="meta">{s["ttft"]} {t.get("ttft_s", 0):.2f} s · {t.get("tokens_per_s", 0):.1f} tok/s · '
                f'{t.get("completion_tokens", 0)} tokens</div>')
    else:
        meta = f'<div class="meta">{t.get("total_s", 0):.2f} s</div>'
    sources = "".join(_source_html(c, uid, s) for c in answer.get("citations", []))
    return body + meta + sources


def _source_html(c: dict, uid: str, s: dict) -> str:
    doc_text = c.get("document_text") or c["text"]
    start, end = (c["start"], c["end"]) if c.get("document_text") else (0, len(c["text"]))
    before = doc_text[max(0, start - 240):start]
    after = doc_text[end:end + 240]
    excerpt = (("…" if start > 240 else "") + html.escape(before) + "<mark>" + html.escape(doc_text[start:end]) +
               "</mark>" + html.escape(after) + ("…" if end + 240 < len(doc_text) else ""))
    where = c.get("site") or c.get("url") or ""
    where = f' · <a href="{html.escape(c["url"])}" target="_blank" rel="noopener">{html.escape(where)}</a>' \
        if c.get("url") else (f" · {html.escape(where)}" if where else "")
    prov = ""
    if c.get("sources"):
        items = "".join(f'<li>[{p["number"]}] {html.escape(p["title"])} · {html.escape(p.get("site") or "")}<br>'
                        f'<small>{html.escape(p["snippet"][:220])}</small></li>' for p in c["sources"])
        prov = f'<div class="prov">{s["cites"]}:<ul>{items}</ul></div>'
    whole = ""
    if c.get("document_text"):
        whole_html = (html.escape(doc_text[:start]) + "<mark>" + html.escape(doc_text[start:end]) + "</mark>" +
                      html.escape(doc_text[end:]))
        whole = f'<details><summary>{s["whole"]}</summary><div class="doc">{whole_html}</div></details>'
    return (f'<details class="source" id="c-{uid}-{c["n"]}"><summary>[{c["n"]}] {html.escape(c["title"])}{where}'
            f'</summary><div class="doc">{excerpt}</div>{prov}{whole}</details>')


class ChatApp:
    def __init__(self, settings: Settings, assistant: Assistant | None = None):
        self.settings = settings
        self.assistant = assistant or Assistant(settings)
        self.ingest_lock = threading.Lock()

    # --- chat ------------------------------------------------------------------------

    def respond(self, message: str, messages: list, turns: list, ui_choice: str):
        from .text import detect_language
        messages = list(messages or [])
        turns = list(turns or [])
        message = (message or "").strip()
        if not message:
            yield messages, turns, ""
            return
        ui = _language_of_ui(ui_choice, detect_language(message))
        messages += [{"role": "user", "content": message}, {"role": "assistant", "content": "…"}]
        yield messages, turns, ""
        text = ""
        try:
            history = [Turn(**t) for t in turns]
            for event in self.assistant.stream(message, history=history):
                if event["type"] == "token":
                    text += event["text"]
                    messages[-1] = {"role": "assistant", "content": render_streaming(text)}
                    yield messages, turns, ""
                else:
                    answer = self._with_documents(event["answer"])
                    messages[-1] = {"role": "assistant", "content": render_answer(answer, ui)}
                    turns.append({"question": message, "answer": answer["answer"],
                                  "standalone": answer.get("standalone_question", message)})
                    yield messages, turns, ""
        except RagError as e:
            messages[-1] = {"role": "assistant", "content": f"⚠️ {html.escape(str(e))}"}
            yield messages, turns, ""

    def _with_documents(self, answer: dict) -> dict:
        """Attach each cited document's text so the viewer can highlight the chunk in it."""
        docs = self.assistant.data.documents
        for c in answer.get("citations", []):
            doc = docs.get(c["doc_id"])
            if doc is not None:
                c["document_text"] = doc.text
                c["site"] = doc.site
        return answer

    # --- documents ---------------------------------------------------------------------

    def documents_table(self) -> list[list]:
        data = self.assistant.data
        rows = []
        for doc_id, doc in data.documents.items():
            entry = data.manifest.get("documents", {}).get(doc_id, {})
            rows.append([doc.title, doc.kind, doc.language, entry.get("chunks", 0),
                         (entry.get("updated_at") or "")[:16], doc.url or doc.site or ""])
        return rows

    def add_documents(self, files, urls: str, ui_choice: str, progress=None):
        from .ingest import ingest
        sources = [f if isinstance(f, str) else getattr(f, "name", str(f)) for f in (files or [])]
        sources += [u.strip() for u in (urls or "").splitlines() if u.strip()]
        if not sources:
            return self.documents_table(), "—"
        if not self.ingest_lock.acquire(blocking=False):
            return self.documents_table(), "⚠️ another ingest is running; try again when it finishes"
        try:
            if progress is not None:
                progress(0.1, desc=f"reading {len(sources)} source(s)")
            try:
                report = ingest(self.settings, sources, embedder=self.assistant.embedder, progress=False)
            except RagError as e:
                return self.documents_table(), f"⚠️ {e}"
            if progress is not None:
                progress(0.7, desc="loading the new index")
            self.assistant.reload_if_changed()
            if progress is not None:
                progress(0.8, desc="preparing the model's prompt cache")

            def chunk_progress(done: int, total: int) -> None:
                # The one-time cost of a new document in the chunks layout: each chunk read once.
                if progress is not None:
                    progress(0.8 + 0.2 * done / total, desc=f"prompt cache: chunk {done}/{total}")
            started = time.perf_counter()
            how = ""
            try:
                how = self.assistant.warm(progress=chunk_progress)
            except RagError:
                pass
            lines = [report.summary()] + [f"⚠️ {line}" for line in report.failed]
            if how.startswith("computed"):
                lines.append(f"prompt cache: {how} in {time.perf_counter() - started:.0f} s")
            return self.documents_table(), "\n\n".join(html.escape(l) for l in lines)
        finally:
            self.ingest_lock.release()


def _bilingual_header() -> str:
    return (f"### {STRINGS['zh']['title']} · {STRINGS['en']['title']}\n"
            f"{STRINGS['zh']['subtitle']} {STRINGS['en']['subtitle']}")


def build_app(app: ChatApp):
    import gradio as gr
    i18n = gr.I18n(en={k: v for k, v in STRINGS["en"].items()}, **{"zh-CN": STRINGS["zh"], "zh-TW": STRINGS["zh"],
                                                                   "zh": STRINGS["zh"]})
    with gr.Blocks(title="Gemma 4 Q&A", analytics_enabled=False, fill_width=False) as demo:
        with gr.Row():
            header = gr.Markdown(_bilingual_header())
            ui_choice = gr.Radio(["Auto", "中文", "English"], value="Auto", label=i18n("ui"), scale=0, min_width=220,
                                 elem_id="ui-lang")
        with gr.Tabs():
            with gr.Tab(i18n("chat"), id="chat-tab"):
                chatbot = gr.Chatbot(elem_id="chat", height="62vh", sanitize_html=False, render_markdown=False,
                                     buttons=["copy"], feedback_options=None, show_label=False,
                                     placeholder=STRINGS["zh"]["subtitle"] + "<br>" + STRINGS["en"]["subtitle"])
                with gr.Row(equal_height=True):
                    box = gr.Textbox(placeholder=STRINGS["en"]["placeholder"], show_label=False, lines=1, max_lines=4,
                                     scale=6, autofocus=True, elem_id="question", max_length=app.settings.max_question_chars)
                    send = gr.Button(i18n("send"), variant="primary", scale=1, min_width=80, elem_id="send")
                    new = gr.Button(i18n("new"), scale=1, min_width=80, elem_id="new-chat")
                gr.Examples(EXAMPLES, inputs=box, label=i18n("examples"), examples_per_page=6)
            with gr.Tab(i18n("docs"), id="docs-tab"):
                table = gr.Dataframe(value=app.documents_table, headers=["title", "kind", "language", "chunks",
                                                                        "updated", "site / URL"],
                                     interactive=False, label=i18n("doc_table"), wrap=True, elem_id="doc-table")
                with gr.Row():
                    files = gr.File(file_count="multiple", file_types=[".html", ".htm", ".txt", ".md"],
                                    label=i18n("upload"), elem_id="upload")
                    urls = gr.Textbox(lines=3, label=i18n("url"), placeholder="https://…", elem_id="urls")
                add = gr.Button(i18n("ingest"), variant="primary", elem_id="ingest")
                report = gr.Markdown(elem_id="ingest-report")
        turns = gr.State([])

        def respond(message, messages, turns_value, ui):
            yield from app.respond(message, messages, turns_value, ui)

        def add_docs(files_value, urls_value, ui, progress=gr.Progress()):
            rows, text = app.add_documents(files_value, urls_value, ui, progress)
            return rows, text, None, ""

        events = dict(fn=respond, inputs=[box, chatbot, turns, ui_choice], outputs=[chatbot, turns, box],
                      concurrency_limit=8, concurrency_id="chat")
        box.submit(**events)
        send.click(**events)
        new.click(lambda: ([], [], ""), outputs=[chatbot, turns, box], queue=False)
        add.click(add_docs, inputs=[files, urls, ui_choice], outputs=[table, report, files, urls], concurrency_limit=1)
        def switch_language(choice):
            if choice == "Auto":
                head, strings = _bilingual_header(), STRINGS["en"]
            else:
                strings = STRINGS["en" if choice == "English" else "zh"]
                head = f"### {strings['title']}\n{strings['subtitle']}"
            return (gr.update(value=head), gr.update(placeholder=strings["placeholder"]),
                    gr.update(value=strings["send"]), gr.update(value=strings["new"]),
                    gr.update(value=strings["ingest"]))

        ui_choice.change(switch_language, inputs=ui_choice, outputs=[header, box, send, new, add], queue=False)
    demo._rag_i18n = i18n
    return demo


def serve(settings: Settings, host: str | None = None, port: int | None = None, block: bool = True):
    host = host or settings.host
    port = port or settings.port
    app = ChatApp(settings)
    try:
        app.assistant.warm()           # load the saved prompt cache now, not on the first question
    except RagError as e:
        print(f"note: {e}")
    demo = build_app(app)
    demo.queue(default_concurrency_limit=8, max_size=64)
    print(f"Chat running at http://{host}:{port}  (Ctrl+C to stop)", flush=True)
    demo.launch(server_name=host, server_port=port, share=False, inbrowser=block and host in ("127.0.0.1", "localhost")
                and bool(os.environ.get("DISPLAY")), show_error=False, max_file_size=f"{int(settings.max_file_mb)}mb",
                allowed_paths=[], blocked_paths=[str(settings.root), str(Path.home())], enable_monitoring=False,
                ssr_mode=False, pwa=False, mcp_server=False, quiet=True, prevent_thread_lock=not block,
                css=CSS, head=HEAD, i18n=demo._rag_i18n, footer_links=[])
    return demo
