"""What the browser chat shows: the page's strings in both languages, `safe` (the one door
for user-supplied text into the page) and the HTML of an answer: clickable [n] markers,
unsupported sentences marked, speed figures, one expandable source per citation (its chunk
highlighted in the document, the sources an article chunk cites), and the Copy text."""
from __future__ import annotations

import html
import re
import uuid

from .conversations import answer_markdown
from .profile import current as current_profile
from .types import Answer, Citation

_PROFILE = current_profile()              # title and subtitle of the corpus (corpus/profile.json)

STRINGS = {
    "en": {"title": _PROFILE.title["en"], "subtitle": _PROFILE.subtitle["en"],
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
           "saved_here": "Saved in this browser only (on this computer).", "spelled": "Looked up as: {0}"},
    "zh": {"title": _PROFILE.title["zh"], "subtitle": _PROFILE.subtitle["zh"],
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
           "saved_here": "只保存在这个浏览器里（本机）。", "spelled": "按此查找：{0}"},
}


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
    spelled = f'<div class="spelled">{s["spelled"].format(safe(answer.spelled))}</div>' if answer.spelled else ""
    return spelled + body + meta + sources + copy_payload(answer_markdown(answer, s["sources"]))


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
    if c.section:
        where += " · " + safe(c.section)
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
