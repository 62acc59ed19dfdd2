"""The chat in the browser, a thin shell over `chat.Assistant.stream`: `ChatApp` is what the
page's events call (answer a question, stream control, saved conversations, the Documents
tab's ingest). Session state lives in gr.State (one history per browser tab); the one model
sits behind a lock. Every user-supplied string reaches the page through `ui_render.safe`; an
ingest never holds the model: the chat keeps answering from the previous index version until
the new one is ready. The page itself is ui_page.py, the HTML of an answer ui_render.py."""
from __future__ import annotations

import html
import os
import re
import threading
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
from .config import use_offline_hub  # noqa: E402

use_offline_hub()

from .chat import Assistant, Turn, standalone_question  # noqa: E402
from .config import Settings  # noqa: E402
from .conversations import ConversationStore  # noqa: E402
from .errors import RagError  # noqa: E402
from .text import HAN_CHARS  # noqa: E402
from .types import Answer, TokenEvent  # noqa: E402
from .ui_render import STRINGS, _language_of_ui, render_answer, render_stopped, render_streaming, safe  # noqa: E402
from .ui_session import StreamControls  # noqa: E402


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
                    if isinstance(event, TokenEvent):
                        text += event.text
                        messages[-1] = {"role": "assistant", "content": render_streaming(text)}
                        yield messages, turns, ""
                    else:
                        answered = True
                        answer = self._with_documents(event.answer)
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
        name = re.sub(f"[^\\w{HAN_CHARS}-]+", "-", title).strip("-")[:40] or "conversation"
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
