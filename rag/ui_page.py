"""The browser page (Gradio Blocks) over `ui.ChatApp`: the chat tab (streaming answers, Stop,
New chat, saved conversations, Copy and Export), the Documents tab (list, upload, add URLs),
the interface language switch; and `serve`, which puts the page and the OpenAI-compatible
/v1 routes (api.py) on one port. Over 300 lines for one reason: `build_app` is Gradio's
Blocks layout and its event wiring, which share the components as local variables; cut
apart, every piece would take and return two dozen of them."""
from __future__ import annotations

import os
import threading
from pathlib import Path

from .config import Settings
from .ui import ChatApp, upload_outcome, within_size_limit
from .errors import RagError
from .profile import current as current_profile
from .sources import SUPPORTED_SUFFIXES
from .ui_render import STRINGS, _language_of_ui
from .ui_session import COPY_JS, LOAD_JS, REMEMBER_JS

EXAMPLES = list(current_profile().examples)   # the corpus's own (corpus/profile.json)

CSS = """
#chat .cite { font-weight: 600; text-decoration: none; padding: 0 1px; cursor: pointer; }
#chat .unsupported { text-decoration: underline wavy #d97706; text-underline-offset: 3px; }
#chat .meta { font-size: 0.78em; opacity: 0.7; margin-top: 6px; }
#chat .spelled { font-size: 0.78em; opacity: 0.7; margin-bottom: 6px; }
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

def _bilingual_header() -> str:
    return (f"### {STRINGS['zh']['title']} · {STRINGS['en']['title']}\n"
            f"{STRINGS['zh']['subtitle']} {STRINGS['en']['subtitle']}")



def build_app(app: ChatApp):
    import gradio as gr
    i18n = gr.I18n(en={k: v for k, v in STRINGS["en"].items()}, **{"zh-CN": STRINGS["zh"], "zh-TW": STRINGS["zh"],
                                                                   "zh": STRINGS["zh"]})
    with gr.Blocks(title=STRINGS["en"]["title"], analytics_enabled=False, fill_width=False) as demo:
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

