"""The chat in the browser (Gradio Blocks), a thin shell over `chat.Assistant.stream`.
Answers stream in; each [n] opens its chunk highlighted inside its document, with the
sources an article chunk cites; a Documents tab lists and adds documents. Session state
lives in gr.State (one history per browser tab); the one model sits behind a lock. Every
user-supplied string reaches the page through `safe`; an ingest never holds the model: the
chat keeps answering from the previous index version until the new one is ready."""
from __future__ import annotations

import html
import os
import re
import threading
import uuid
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
from .config import use_offline_hub  # noqa: E402

use_offline_hub()

from .chat import Assistant, Turn, standalone_question  # noqa: E402
from .config import Settings  # noqa: E402
from .conversations import ConversationStore, answer_markdown  # noqa: E402
from .errors import RagError  # noqa: E402
from .sources import SUPPORTED_SUFFIXES  # noqa: E402
from .types import Answer, Citation  # noqa: E402
from .ui_session import COPY_JS, LOAD_JS, REMEMBER_JS, StreamControls  # noqa: E402

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
           "chat": "Chat", "docs": "Documents", "examples": "Try one", "upload": "Add files (.pdf, .docx, .html, .htm, .txt, .md)",
           "url": "…or paste web addresses (one per line)", "ingest": "Add to the index",
           "doc_table": "Indexed documents", "ttft": "first token", "sources": "Sources", "unsupported":
           "not supported by the documents", "cites": "cites", "whole": "whole document", "ui": "Interface",
           "page": "p. {0}", "pages": "pp. {0}–{1}", "left_out": "left out",
           "stop": "Stop", "stopped": "stopped", "conversations": "Saved conversations", "conv_list": "Conversation",
           "open": "Open", "rename": "Rename", "rename_to": "New name", "delete": "Delete",
           "export": "Export as Markdown", "exported": "Markdown file", "loading": "⏳ Loading the model…",
           "ready": "Model ready", "load_failed": "⚠️ The model did not load: {error}",
           "busy": "An answer is still coming: press Stop, or wait for it.",
           "too_big": "{name} is {size:.1f} MB; files up to {limit:g} MB can be added.",
           "saved_here": "Saved in this browser only (on this computer)."},
    "zh": {"title": "Gemma 4 问答", "subtitle": "离线回答，依据文章及其 8 个来源，每句话都有出处。",
           "placeholder": "用简体中文、繁體中文或 English 提问，按 Enter 发送", "send": "发送", "new": "新对话",
           "chat": "对话", "docs": "文档", "examples": "试试这些", "upload": "添加文件（.pdf、.docx、.html、.htm、.txt、.md）",
           "url": "……或粘贴网址（每行一个）", "ingest": "加入索引", "doc_table": "已索引的文档",
           "ttft": "首字", "sources": "出处", "unsupported": "文档中找不到依据", "cites": "引用",
           "whole": "完整文档", "ui": "界面语言", "page": "第 {0} 页", "pages": "第 {0}–{1} 页", "left_out": "未读取",
           "stop": "停止", "stopped": "已停止", "conversations": "保存的对话", "conv_list": "对话",
           "open": "打开", "rename": "重命名", "rename_to": "新名称", "delete": "删除",
           "export": "导出为 Markdown", "exported": "Markdown 文件", "loading": "⏳ 正在加载模型……",
           "ready": "模型已就绪", "load_failed": "⚠️ 模型未能加载：{error}",
           "busy": "回答还在生成：可按“停止”，或等它完成。",
           "too_big": "{name} 有 {size:.1f} MB；只能添加不超过 {limit:g} MB 的文件。",
           "saved_here": "只保存在这个浏览器里（本机）。"},
}

CSS = """
#chat .cite { font-weight: 600; text-decoration: none; padding: 0 1px; cursor: pointer; }
#chat .unsupported { text-decoration: underline wavy #d97706; text-underline-offset: 3px; }
#chat .meta { font-size: 0.78em; opacity: 0.7; margin-top: 6px; }
#chat details.source { border-left: 3px solid #6366f1; padding: 2px 8px; margin: 6px 0; }
#chat details.source.flash { background: rgba(99, 102, 241, 0.12); }
#chat details.source .doc { white-space: pre-wrap; font-size: 0.9em; max-height: 22em; overflow: auto; }
#chat details.source mark { background: #fde68a; color: #1f2937; }
.dark #chat details.source mark { background: #a16207; color: #fefce8; }
#chat .stopped { font-size: 0.78em; opacity: 0.7; margin-top: 6px; font-style: italic; }
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


_INVISIBLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u202a-\u202e\u2066-\u2069]")


def safe(value, url: bool = False) -> str:
    """The one door for user-supplied text into the page: questions, answers, document
    titles and sites, file names, URLs, ingest and error lines. HTML-escaped, quotes
    included, so it is inert both as element text and inside an attribute; control and
    direction-override characters dropped. With `url`, only an http(s) address passes
    (a javascript: or data: link becomes empty)."""
    text = _INVISIBLE.sub("", "" if value is None else str(value))
    if url:
        text = text.strip()
        if not re.match(r"https?://[^\s]", text, re.IGNORECASE):
            return ""
    return html.escape(text, quote=True)


def render_streaming(text: str) -> str:
    return safe(text)


def render_answer(answer: Answer, ui: str = "zh") -> str:
    """The answer with clickable [n] markers, unsupported sentences marked, speed
    figures, and one expandable source per citation."""
    s = STRINGS[ui]
    uid = uuid.uuid4().hex[:8]
    body = safe(answer.answer)
    for sentence in answer.unsupported:
        escaped = safe(sentence)
        if escaped and escaped in body:
            body = body.replace(escaped, f'<span class="unsupported" title="{s["unsupported"]}">{escaped}</span>', 1)
    known = {c.n for c in answer.citations}

    def link(m: re.Match) -> str:
        n = int(m.group(1))
        if n not in known:
            return m.group(0)
        return f'<a class="cite" href="#c-{uid}-{n}" data-cite="c-{uid}-{n}">[{n}]</a>'
    body = re.sub(r"\[(\d+)\]", link, body)
    t = answer.timings
    meta = ""
    if not answer.refused or t.completion_tokens:
        meta = (f'<div class="meta">{s["ttft"]} {t.ttft_s:.2f} s · {t.tokens_per_s:.1f} tok/s · '
                f'{t.completion_tokens} tokens</div>')
    else:
        meta = f'<div class="meta">{t.total_s:.2f} s</div>'
    sources = "".join(_source_html(c, uid, s) for c in answer.citations)
    return body + meta + sources + copy_payload(answer_markdown(answer, s["sources"]))


def copy_payload(text: str) -> str:
    """The text Copy gives for a message (see ui_session.COPY_JS), hidden in the message."""
    return f'<span class="copy-md" hidden data-md="{html.escape(text, quote=True)}"></span>'


def render_stopped(text: str, ui: str = "zh") -> str:
    """An answer the user stopped: the text shown so far, marked as stopped."""
    return (render_streaming(text) + f'<div class="stopped">{STRINGS[ui]["stopped"]}</div>'
            + copy_payload(text))


def _source_html(c: Citation, uid: str, s: dict) -> str:
    doc_text = c.document_text or c.text
    start, end = (c.start, c.end) if c.document_text else (0, len(c.text))
    before = doc_text[max(0, start - 240):start]
    after = doc_text[end:end + 240]
    excerpt = (("…" if start > 240 else "") + safe(before) + "<mark>" + safe(doc_text[start:end]) +
               "</mark>" + safe(after) + ("…" if end + 240 < len(doc_text) else ""))
    where = c.site or c.url or ""
    href = safe(c.url, url=True)
    where = f' · <a href="{href}" target="_blank" rel="noopener noreferrer">{safe(where)}</a>' \
        if href else (f" · {safe(where)}" if where else "")
    if c.page:
        where += " · " + safe(s["pages"].format(c.page, c.last_page) if c.last_page else s["page"].format(c.page))
    prov = ""
    if c.sources:
        items = "".join(f'<li>[{int(p["number"])}] {safe(p["title"])} · {safe(p.get("site") or "")}<br>'
                        f'<small>{safe(p["snippet"][:220])}</small></li>' for p in c.sources)
        prov = f'<div class="prov">{s["cites"]}:<ul>{items}</ul></div>'
    whole = ""
    if c.document_text:
        whole_html = (safe(doc_text[:start]) + "<mark>" + safe(doc_text[start:end]) + "</mark>" +
                      safe(doc_text[end:]))
        whole = f'<details><summary>{s["whole"]}</summary><div class="doc">{whole_html}</div></details>'
    return (f'<details class="source" id="c-{uid}-{int(c.n)}"><summary>[{int(c.n)}] {safe(c.title)}{where}'
            f'</summary><div class="doc">{excerpt}</div>{prov}{whole}</details>')


class ChatApp:
    def __init__(self, settings: Settings, assistant: Assistant | None = None,
                 store: ConversationStore | None = None):
        self.settings = settings
        self.assistant = assistant or Assistant(settings)
        self.ingest_lock = threading.Lock()
        self.controls = StreamControls()
        data_dir = Path(settings.data_dir or Path(settings.index_dir).parent / "data")
        self.store = store or ConversationStore(data_dir / "conversations.sqlite3")
        self.model_state: tuple[str, str] = ("loading", "")     # loading | ready | failed, and why

    def load_model(self) -> None:
        """Load the model and its prompt cache now (serve calls this at start, in the
        background), so the first question does not pay for it; the page shows the state."""
        try:
            _ = self.assistant.llm
            self.assistant.warm()
            self.model_state = ("ready", "")
        except RagError as e:
            self.model_state = ("failed", str(e))
            print(f"note: {e}", flush=True)

    def model_status(self, ui: str) -> str:
        state, why = self.model_state
        s = STRINGS[ui]
        return {"loading": s["loading"], "ready": s["ready"]}.get(state) or s["load_failed"].format(error=why)

    # --- chat ------------------------------------------------------------------------

    def respond(self, message: str, messages: list, turns: list, ui_choice: str, cancel=None, on_answer=None):
        """Stream one answer into the chat. When `cancel` is set the model stops after the
        token in progress and the text so far stays, marked as stopped. `on_answer(question,
        answer, stopped)` is called once the turn is over (to save it)."""
        from .text import detect_language
        messages = list(messages or [])
        turns = list(turns or [])
        message = (message or "").strip()
        if not message:
            yield messages, turns, ""
            return
        ui = _language_of_ui(ui_choice, detect_language(message))
        messages += [{"role": "user", "content": safe(message)}, {"role": "assistant", "content": "…"}]
        yield messages, turns, ""
        text = ""
        try:
            history = [Turn(**t) for t in turns]
            answered = False
            events = self.assistant.stream(message, history=history, cancel=cancel)
            try:
                for event in events:
                    if event["type"] == "token":
                        text += event["text"]
                        messages[-1] = {"role": "assistant", "content": render_streaming(text)}
                        yield messages, turns, ""
                    else:
                        answered = True
                        answer = self._with_documents(event["answer"])
                        messages[-1] = {"role": "assistant", "content": render_answer(answer, ui)}
                        turns.append({"question": message, "answer": answer.answer,
                                      "standalone": answer.standalone_question or message})
                        if on_answer is not None:
                            on_answer(message, answer, False)
                        yield messages, turns, ""
            finally:
                events.close()          # a closed page or a cancelled event frees the model at once
            if not answered and cancel is not None and cancel.is_set():
                messages[-1] = {"role": "assistant", "content": render_stopped(text, ui)}
                stopped = Answer(message, text, detect_language(message))
                if text.strip():
                    turns.append({"question": message, "answer": text,
                                  "standalone": standalone_question(message, history)})
                if on_answer is not None:
                    on_answer(message, stopped, True)
                yield messages, turns, ""
        except RagError as e:
            messages[-1] = {"role": "assistant", "content": f"⚠️ {safe(e)}"}
            yield messages, turns, ""

    # --- saved conversations -------------------------------------------------------------

    def conversation_view(self, browser: str, conversation: str, ui: str) -> tuple[list, list, str]:
        """A saved conversation as chat messages and follow-up history, and its id ("" when
        it is not this browser's or no longer exists)."""
        found = self.store.get(browser, conversation) if browser and conversation else None
        if found is None:
            return [], [], ""
        messages, turns = [], []
        for turn in found["turns"]:
            answer = Answer.from_json(turn["answer"])
            messages.append({"role": "user", "content": safe(turn["question"])})
            if turn["stopped"]:
                messages.append({"role": "assistant", "content": render_stopped(answer.answer, ui)})
            else:
                messages.append({"role": "assistant", "content": render_answer(self._with_documents(answer), ui)})
            if answer.answer.strip():
                history = [Turn(**t) for t in turns]
                turns.append({"question": turn["question"], "answer": answer.answer,
                              "standalone": answer.standalone_question
                              or standalone_question(turn["question"], history)})
        return messages, turns, found["id"]

    def conversation_choices(self, browser: str) -> list[tuple[str, str]]:
        import datetime
        out = []
        for c in self.store.list(browser) if browser else []:
            when = datetime.datetime.fromtimestamp(c["updated"]).strftime("%m-%d %H:%M")
            out.append((f"{c['title']} · {when}", c["id"]))
        return out

    def export_conversation(self, browser: str, conversation: str) -> str | None:
        """Write the conversation as Markdown to a temp file (Gradio serves it from there)."""
        import tempfile
        text = self.store.export_markdown(browser, conversation) if browser and conversation else None
        if text is None:
            return None
        title = self.store.get(browser, conversation)["title"]
        name = re.sub(r"[^\w\u4e00-\u9fff-]+", "-", title).strip("-")[:40] or "conversation"
        folder = Path(tempfile.mkdtemp(prefix="rag-export-"))
        path = folder / f"{name}.md"
        path.write_text(text, encoding="utf-8")
        return str(path)

    def _with_documents(self, answer: Answer) -> Answer:
        """Attach each cited document's text so the viewer can highlight the chunk in it."""
        docs = self.assistant.data.documents
        for c in answer.citations:
            doc = docs.get(c.doc_id)
            if doc is not None:
                c.document_text = doc.text
                c.site = doc.site
        return answer

    # --- documents ---------------------------------------------------------------------

    def documents_table(self) -> list[list]:
        return [[safe(r["title"]), safe(r["kind"]), safe(r["language"]), r["chunks"], safe((r["updated_at"] or "")[:16]),
                 safe(r["url"] or r["site"] or "")] for r in self.assistant.data.document_rows()]

    def add_documents(self, files, urls: str, ui_choice: str, progress=None):
        """Ingest in this (Documents tab) worker, never holding the model: questions go on
        being answered from the current index version while the new one is written, loaded
        and its prompt cache prepared in a helper process; then it is switched in. An ingest
        that changed nothing loads no model and prepares nothing. Returns (rows, report HTML)."""
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
                return self.documents_table(), f"⚠️ {safe(e)}"
            lines = ([report.summary()] + [f"⚠️ {line}" for line in report.failed]
                     + [f"ℹ️ {STRINGS[_language_of_ui(ui_choice)]['left_out']}: {line}" for line in report.left_out])
            if report.changed:
                steps = iter([0.6, 0.7, 0.9])

                def step(text: str) -> None:
                    if progress is not None:
                        progress(next(steps, 0.95), desc=text)
                try:
                    self.assistant.reload_if_changed(wait=True, on_step=step)
                except RagError as e:
                    lines.append(f"⚠️ the new documents are stored but not yet answering: {e}")
            return self.documents_table(), "<br>".join(safe(line) for line in lines)
        finally:
            self.ingest_lock.release()


def _upload_path(f) -> str:
    return f if isinstance(f, str) else getattr(f, "name", str(f))


def upload_outcome(report: str, files, urls: str) -> tuple[str, list | None, str]:
    """The ingest report with each uploaded file named by its own name, not the server's
    temp path; and what stays in the inputs: the files and addresses that failed, so the
    user can fix and retry them (the ones that were added are cleared)."""
    failed_files = []
    for f in files or []:
        path = _upload_path(f)
        name = Path(path).name
        if path and name != path:
            for form in {path, html.escape(path), html.escape(path, quote=False)}:
                report = report.replace(form, name)
    failed_lines = [line for line in re.split(r"\n|<br\s*/?>", report) if "⚠️" in line]
    for f in files or []:
        path = _upload_path(f)
        if any(Path(path).name in line for line in failed_lines):
            failed_files.append(path)
    url_list = [u.strip() for u in (urls or "").splitlines() if u.strip()]
    failed_urls = [u for u in url_list if any(u in line or html.escape(u) in line for line in failed_lines)]
    names = [Path(_upload_path(f)).name for f in files or []] + url_list
    if any(not any(n in line or html.escape(n) in line for n in names) for line in failed_lines):
        # a failure of the whole run (another ingest running, the index unwritable): keep all
        failed_files, failed_urls = [_upload_path(f) for f in files or []], url_list
    return report, (failed_files or None), "\n".join(failed_urls)


def within_size_limit(files, limit_mb: float) -> tuple[list, list[tuple[str, float]]]:
    """Uploaded files split into those within the size limit and (name, MB) of the others."""
    kept, too_big = [], []
    for f in files or []:
        path = _upload_path(f)
        try:
            mb = os.path.getsize(path) / 1_000_000
        except OSError:
            kept.append(path)
            continue
        if mb > limit_mb:
            too_big.append((Path(path).name, mb))
        else:
            kept.append(path)
    return kept, too_big


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
        status = gr.Markdown(elem_id="model-status")
        with gr.Tabs():
            with gr.Tab(i18n("chat"), id="chat-tab") as chat_tab:
                chatbot = gr.Chatbot(elem_id="chat", height="62vh", sanitize_html=False, render_markdown=False,
                                     buttons=["copy"], feedback_options=None, show_label=False,
                                     placeholder=STRINGS["zh"]["subtitle"] + "<br>" + STRINGS["en"]["subtitle"])
                with gr.Row(equal_height=True):
                    box = gr.Textbox(placeholder=STRINGS["en"]["placeholder"], show_label=False, lines=1, max_lines=4,
                                     scale=6, autofocus=True, elem_id="question", max_length=app.settings.max_question_chars)
                    send = gr.Button(i18n("send"), variant="primary", scale=1, min_width=80, elem_id="send")
                    stop = gr.Button(i18n("stop"), variant="stop", scale=1, min_width=80, elem_id="stop",
                                     visible=False)
                    new = gr.Button(i18n("new"), scale=1, min_width=80, elem_id="new-chat")
                examples = gr.Examples(EXAMPLES, inputs=box, label=i18n("examples"), examples_per_page=6)
                with gr.Accordion(i18n("conversations"), open=False, elem_id="conversations") as saved_panel:
                    saved_note = gr.Markdown(i18n("saved_here"))
                    with gr.Row(equal_height=True):
                        conv_list = gr.Dropdown(choices=[], value=None, label=i18n("conv_list"), scale=4,
                                                elem_id="conv-list", allow_custom_value=False)
                        open_btn = gr.Button(i18n("open"), scale=1, min_width=70, elem_id="conv-open")
                        delete_btn = gr.Button(i18n("delete"), scale=1, min_width=70, elem_id="conv-delete",
                                               variant="stop")
                    with gr.Row(equal_height=True):
                        new_title = gr.Textbox(label=i18n("rename_to"), scale=4, elem_id="conv-title")
                        rename_btn = gr.Button(i18n("rename"), scale=1, min_width=70, elem_id="conv-rename")
                        export_btn = gr.Button(i18n("export"), scale=1, min_width=70, elem_id="conv-export")
                    export_file = gr.File(label=i18n("exported"), visible=False, interactive=False,
                                          elem_id="conv-file")
            with gr.Tab(i18n("docs"), id="docs-tab") as docs_tab:
                # Cells are HTML built by `safe` (escaped), so a title shows as its literal text.
                table = gr.Dataframe(value=app.documents_table, headers=["title", "kind", "language", "chunks",
                                                                        "updated", "site / URL"],
                                     datatype=["html", "html", "html", "number", "html", "html"],
                                     interactive=False, label=i18n("doc_table"), wrap=True, elem_id="doc-table")
                with gr.Row():
                    files = gr.File(file_count="multiple", file_types=sorted(SUPPORTED_SUFFIXES),
                                    label=i18n("upload"), elem_id="upload")
                    urls = gr.Textbox(lines=3, label=i18n("url"), placeholder="https://…", elem_id="urls")
                add = gr.Button(i18n("ingest"), variant="primary", elem_id="ingest")
                report = gr.HTML(elem_id="ingest-report")
        turns = gr.State([])
        pending = gr.State("")                                   # the question taken from the box
        browser = gr.Textbox(visible=False, elem_id="browser-id")         # this browser's id (localStorage)
        conversation = gr.Textbox(visible=False, elem_id="conversation-id")  # the open saved conversation
        timer = gr.Timer(1.0, active=app.model_state[0] == "loading")

        def ui_of(choice, text=""):
            from .text import detect_language
            return _language_of_ui(choice, detect_language(text) if text else None)

        def take_question(message, request: gr.Request):
            """Send, or Enter: take the question unless an answer is still streaming (then
            the text stays in the box, never dropped)."""
            message = (message or "").strip()
            if not message:
                return gr.skip(), "", gr.skip(), gr.skip()
            if not app.controls.get(request.session_hash).begin():
                gr.Info(STRINGS[ui_of("Auto", message)]["busy"])
                return gr.skip(), "", gr.skip(), gr.skip()
            return "", message, gr.update(visible=False), gr.update(visible=True)

        def respond(message, messages, turns_value, ui, browser_id, conversation_id, request: gr.Request):
            if not message:                          # nothing taken (empty, or an answer was streaming)
                yield gr.skip(), gr.skip(), gr.skip(), gr.skip()
                return
            control = app.controls.get(request.session_hash)
            saved = {"id": conversation_id or ""}

            def save(question, answer, stopped):
                if control.discarded or not browser_id:
                    return
                try:
                    saved["id"] = app.store.add_turn(browser_id, saved["id"], question, answer.to_json(),
                                                     stopped=stopped)
                except RagError as e:
                    print(f"note: the conversation was not saved: {e}", flush=True)
            steps = app.respond(message, messages, turns_value, ui, cancel=control.cancel, on_answer=save)
            try:
                for messages_out, turns_out, _ in steps:
                    if control.discarded:
                        break
                    yield messages_out, turns_out, saved["id"], gr.skip()
                if control.discarded:               # New chat or the trash: the screen stays empty
                    yield [], [], "", gr.skip()
                else:
                    yield gr.skip(), gr.skip(), saved["id"], gr.update(choices=app.conversation_choices(browser_id))
            finally:
                steps.close()
                control.end()

        def answer_done(request: gr.Request):
            if app.controls.get(request.session_hash).busy:      # a refused second question's chain
                return gr.skip(), gr.skip()
            return gr.update(visible=True), gr.update(visible=False)

        def stop_answer(request: gr.Request):
            app.controls.get(request.session_hash).stop()

        def new_chat(request: gr.Request):
            app.controls.get(request.session_hash).discard()
            return [], [], ""

        def restore(browser_id, conversation_id, ui):
            from .conversations import new_browser_id, valid_browser_id
            browser_id = browser_id if valid_browser_id(browser_id) else new_browser_id()
            messages, turns_value, conversation_id = app.conversation_view(browser_id, conversation_id, ui_of(ui))
            return (browser_id, conversation_id, messages, turns_value,
                    gr.update(choices=app.conversation_choices(browser_id), value=conversation_id or None))

        def open_saved(browser_id, chosen, ui, request: gr.Request):
            if not chosen:
                return gr.skip(), gr.skip(), gr.skip(), gr.skip()
            app.controls.get(request.session_hash).discard()
            messages, turns_value, conversation_id = app.conversation_view(browser_id, chosen, ui_of(ui))
            return messages, turns_value, conversation_id, gr.update(choices=app.conversation_choices(browser_id))

        def rename_saved(browser_id, chosen, title):
            if chosen and (title or "").strip():
                app.store.rename(browser_id, chosen, title)
            return gr.update(choices=app.conversation_choices(browser_id), value=chosen), ""

        def delete_saved(browser_id, chosen, current, request: gr.Request):
            if not chosen:
                return gr.skip(), gr.skip(), gr.skip(), gr.skip()
            app.store.delete(browser_id, chosen)
            choices = gr.update(choices=app.conversation_choices(browser_id), value=None)
            if chosen == current:
                app.controls.get(request.session_hash).discard()
                return choices, [], [], ""
            return choices, gr.skip(), gr.skip(), gr.skip()

        def export_saved(browser_id, chosen, current):
            path = app.export_conversation(browser_id, chosen or current)
            return gr.update(value=path, visible=True) if path else gr.update(value=None, visible=False)

        def add_docs(files_value, urls_value, ui, progress=gr.Progress()):
            rows, text = app.add_documents(files_value, urls_value, ui, progress)
            return (rows,) + upload_outcome(text, files_value, urls_value)

        def check_sizes(files_value, ui):
            kept, too_big = within_size_limit(files_value, app.settings.max_file_mb)
            if too_big:
                s = STRINGS[ui_of(ui)]
                gr.Warning(" ".join(s["too_big"].format(name=name, size=mb, limit=app.settings.max_file_mb)
                                    for name, mb in too_big))
                return kept or None
            return gr.skip()

        def status_text(ui):
            if ui == "Auto":
                return " · ".join(dict.fromkeys(app.model_status(lang) for lang in ("en", "zh")))
            return app.model_status(ui_of(ui))

        def model_status(ui):
            return status_text(ui), gr.Timer(active=app.model_state[0] == "loading")

        for fn in (take_question, respond, answer_done, stop_answer, new_chat, open_saved, delete_saved):
            fn.__annotations__["request"] = gr.Request       # (string annotations here: name the class)
        asking = dict(fn=respond, inputs=[pending, chatbot, turns, ui_choice, browser, conversation],
                      outputs=[chatbot, turns, conversation, conv_list], concurrency_limit=8, concurrency_id="chat")
        for trigger in (box.submit, send.click):
            trigger(take_question, inputs=[box], outputs=[box, pending, send, stop], queue=False) \
                .then(**asking).then(answer_done, outputs=[send, stop], queue=False)
        stop.click(stop_answer, queue=False)
        new.click(new_chat, outputs=[chatbot, turns, conversation], queue=False)
        chatbot.clear(new_chat, outputs=[chatbot, turns, conversation], queue=False)
        conversation.change(None, inputs=[conversation], js=REMEMBER_JS, queue=False)
        demo.load(restore, inputs=[browser, conversation, ui_choice],
                  outputs=[browser, conversation, chatbot, turns, conv_list], js=LOAD_JS)
        demo.load(model_status, inputs=[ui_choice], outputs=[status, timer], queue=False)
        timer.tick(model_status, inputs=[ui_choice], outputs=[status, timer], queue=False)
        open_btn.click(open_saved, inputs=[browser, conv_list, ui_choice],
                       outputs=[chatbot, turns, conversation, conv_list], queue=False)
        rename_btn.click(rename_saved, inputs=[browser, conv_list, new_title], outputs=[conv_list, new_title],
                         queue=False)
        delete_btn.click(delete_saved, inputs=[browser, conv_list, conversation],
                         outputs=[conv_list, chatbot, turns, conversation], queue=False)
        export_btn.click(export_saved, inputs=[browser, conv_list, conversation], outputs=[export_file])
        add.click(add_docs, inputs=[files, urls, ui_choice], outputs=[table, report, files, urls], concurrency_limit=1)
        files.upload(check_sizes, inputs=[files, ui_choice], outputs=[files], queue=False)

        def switch_language(choice):
            if choice == "Auto":
                head, strings = _bilingual_header(), STRINGS["en"]
            else:
                strings = STRINGS["en" if choice == "English" else "zh"]
                head = f"### {strings['title']}\n{strings['subtitle']}"
            return (gr.update(value=head), gr.update(placeholder=strings["placeholder"]),
                    gr.update(value=strings["send"]), gr.update(value=strings["new"]),
                    gr.update(value=strings["ingest"]), gr.update(value=strings["stop"]),
                    gr.update(label=strings["chat"]), gr.update(label=strings["docs"]),
                    gr.update(label=strings["examples"]), gr.update(label=strings["ui"]),
                    gr.update(label=strings["conversations"]), gr.update(value=strings["saved_here"]),
                    gr.update(label=strings["conv_list"]), gr.update(value=strings["open"]),
                    gr.update(value=strings["delete"]), gr.update(label=strings["rename_to"]),
                    gr.update(value=strings["rename"]), gr.update(value=strings["export"]),
                    gr.update(label=strings["exported"]), gr.update(label=strings["doc_table"]),
                    gr.update(label=strings["upload"]), gr.update(label=strings["url"]),
                    status_text(choice))

        ui_choice.change(switch_language, inputs=ui_choice,
                         outputs=[header, box, send, new, add, stop, chat_tab, docs_tab, examples.dataset, ui_choice,
                                  saved_panel, saved_note, conv_list, open_btn, delete_btn, new_title, rename_btn,
                                  export_btn, export_file, table, files, urls, status], queue=False)
    demo._rag_i18n = i18n
    return demo


def serve(settings: Settings, host: str | None = None, port: int | None = None, block: bool = True):
    host = host or settings.host
    port = port or settings.port
    app = ChatApp(settings)
    # The model and its saved prompt cache load now, beside the page, not on the first
    # question; the page shows "Loading the model…" until they are ready.
    threading.Thread(target=app.load_model, name="rag-load-model", daemon=True).start()
    demo = build_app(app)
    demo.queue(default_concurrency_limit=8, max_size=64)
    from .api import api_router    # the OpenAI-compatible /v1 routes, on the same model and port
    api_routes = api_router(app.assistant).routes
    print(f"Chat running at http://{host}:{port}, OpenAI-compatible API at http://{host}:{port}/v1  "
          f"(Ctrl+C to stop)", flush=True)
    # Uploads over RAG_MAX_FILE_MB get one localised message from the Documents tab; Gradio's
    # own (English) limit, ten times higher, only guards the disk.
    demo.launch(server_name=host, server_port=port, share=False, inbrowser=block and host in ("127.0.0.1", "localhost")
                and bool(os.environ.get("DISPLAY")), show_error=False, max_file_size=f"{int(settings.max_file_mb * 10)}mb",
                allowed_paths=[], blocked_paths=[str(settings.root), str(Path.home())], enable_monitoring=False,
                ssr_mode=False, pwa=False, mcp_server=False, quiet=True, prevent_thread_lock=not block,
                css=CSS, head=HEAD + COPY_JS, i18n=demo._rag_i18n, footer_links=[], app_kwargs={"routes": api_routes})
    return demo
