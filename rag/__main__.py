"""The `rag` command (also `python -m rag`): ingest, sources, remove, retrieve, ask, chat,
serve, eval, bench. Errors are one line on stderr with a non-zero exit; `--debug` shows the
traceback. Over 300 lines because it is the whole command-line contract of SPEC.md (each
subcommand's flags and its thin handler), which tools outside the package rely on."""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

from .config import use_offline_hub  # noqa: E402

use_offline_hub()
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from .config import Settings  # noqa: E402
from .errors import RagError  # noqa: E402
from .types import TokenEvent  # noqa: E402


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        """A file named like an option (`-notes.md`) gets told about `--`."""
        if "unrecognized arguments:" in message:
            names = message.split("unrecognized arguments:", 1)[1].split()
            dashed = [n for n in names if n.startswith("-") and os.path.exists(n)]
            if dashed:
                message += f" (a file name that starts with '-' goes after `--`: rag ingest -- {dashed[0]})"
        super().error(message)


def _parser() -> argparse.ArgumentParser:
    from .webpage import EXTRACT_BUDGET_S
    p = _Parser(prog="rag", description="Offline, cited Q&A over a corpus of documents (the shipped "
                                "one or your own), in Simplified Chinese, Traditional Chinese and English.")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("ingest", help="add documents (files, directories, http(s) URLs) to the index",
                       description="Add documents to the index. Files: .pdf (text layer; scans need OCR first), "
                       ".docx, .html/.htm, .txt/.md (UTF-8, UTF-16, GBK/GB18030 or Big5; HTML in its declared "
                       "charset). A folder is read recursively; every file in it that is not read is named with "
                       "the reason ('left out'). Exit code 1 when any source failed, 0 otherwise (files left out "
                       "of a folder do not count as failures).",
                       epilog=f"A file name that starts with '-' goes after `--`, which ends the options: "
                              "rag ingest -- -notes.md. Limits per document: RAG_MAX_FILE_MB (size), "
                              "RAG_MAX_DOC_CHUNKS (chunks to embed); an HTML page's text extraction is "
                              f"stopped after {EXTRACT_BUDGET_S:g} s.")
    s.add_argument("sources", nargs="*", metavar="SOURCE",
                   help="file (.pdf, .docx, .html, .htm, .txt, .md), directory or http(s) URL; "
                        "none = the shipped corpus; put `--` before a name that starts with '-'")
    s.add_argument("--rebuild", action="store_true", help="rebuild the index from scratch")
    s.add_argument("--prune", action="store_true", help="drop documents whose files no longer exist")
    s.add_argument("--refetch", action="store_true", help="fetch URLs again instead of using the cached copy")
    s.add_argument("--no-warm", action="store_true",
                   help="do not precompute the model's prompt cache (the corpus prefix, or each new chunk's KV in "
                        "the chunks layout; computed only when the index changed)")

    s = sub.add_parser("sources", help="list the indexed documents with chunk counts and dates")
    s.add_argument("--json", action="store_true")

    s = sub.add_parser("remove", help="remove documents from the index")
    s.add_argument("docs", nargs="+", metavar="DOC", help="document id (see `rag sources`) or its path/URL")

    s = sub.add_parser("retrieve", help="show the chunks hybrid retrieval finds for a question")
    s.add_argument("question")
    s.add_argument("--k", type=int, default=None)
    s.add_argument("--mode", choices=["hybrid", "dense", "bm25"], default="hybrid")
    s.add_argument("--json", action="store_true")

    s = sub.add_parser("ask", help="answer questions with citations (the model loads once)")
    s.add_argument("questions", nargs="+", metavar="QUESTION")
    s.add_argument("--k", type=int, default=None)
    s.add_argument("--json", action="store_true", help="one JSON object per line per question")

    s = sub.add_parser("chat", help="a multi-turn conversation in the terminal: one question per line, "
                       "follow-ups use the earlier turns; /new starts over, /quit or end of input stops",
                       description="A conversation in the terminal. Each line read from standard input is a "
                       "question; its answer streams with the citations listed under it, and follow-ups are "
                       "answered with the earlier turns as context. /new starts a new conversation, /quit "
                       "(or Ctrl+D, or the end of piped input) ends, Ctrl+C stops the answer being written.")
    s.add_argument("--k", type=int, default=None, help="chunks retrieved per question (default RAG_K)")

    s = sub.add_parser("serve", help="open the chat in the browser (Gradio), with an OpenAI-compatible API at "
                       "/v1/chat/completions and /v1/models on the same port",
                       description="Serve the browser chat and, on the same host and port, an "
                       "OpenAI-compatible API: POST /v1/chat/completions (the whole conversation in "
                       "\"messages\", \"stream\": true for server-sent events; the answer object with "
                       "citations, language and refusal in the extra field \"rag\") and GET /v1/models. "
                       "See docs/API.md. The page opens at once and loads the model beside it; each "
                       "browser's conversations are saved in RAG_DATA_DIR (default: data/ beside the "
                       "index) as conversations.sqlite3.")
    s.add_argument("--host", default=None, help="default 127.0.0.1 (local only)")
    s.add_argument("--port", type=int, default=None, help="default 7860")

    s = sub.add_parser("eval", help="quality metrics on a question set")
    s.add_argument("--set", dest="set_path", default=None, help="JSONL question set (default eval/dev.jsonl); a set of conversations "
                   "(items with \"turns\", e.g. eval/multiturn.jsonl) is asked turn by turn with history")
    s.add_argument("--json", action="store_true")
    s.add_argument("--retrieval-only", action="store_true", help="skip answering; retrieval metrics only")
    s.add_argument("--translate", action="store_true",
                   help="also measure retrieval with a model translation of English questions (slower)")
    s.add_argument("--limit", type=int, default=None, help="answer at most this many questions")
    s.add_argument("--baseline", action="store_true",
                   help="also answer each question with the whole article pasted into one chat turn (same model, "
                        "no retrieval or citations): the plain baseline")
    s.add_argument("--split", choices=["tune", "heldout", "all"], default=None,
                   help="score only the items of this split (the set's \"split\" field); default tune when the "
                        "set has splits, so the held-out part is scored only when asked for")
    s.add_argument("--write", action="store_true", help="append the results to docs/EVAL.md")

    s = sub.add_parser("bench", help="speed and memory figures, compared with raw llama.cpp in the same run")
    s.add_argument("--json", action="store_true")
    s.add_argument("--write", action="store_true", help="append the results to docs/BENCHMARKS.md")
    s.add_argument("--quick", action="store_true", help="fewer questions")
    s.add_argument("--corpus", choices=["shipped", "grown"], default="shipped",
                   help="grown: the same figures at the shipped corpus and at shipped + the licence texts in "
                        "/usr/share/common-licenses, in one run (indexes built in a temporary folder)")
    s.add_argument("--grown-kb", type=float, default=300.0,
                   help="with --corpus grown: at most this many KB of licence text (default 300, all of them)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = Settings.from_env(debug=args.debug or None)
        return COMMANDS[args.command](args, settings)
    except RagError as e:
        if args.debug:
            raise
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as e:       # an unexpected bug still gets one line, and --debug for more
        if args.debug:
            raise
        print(f"error: {type(e).__name__}: {e} (run with --debug for details)", file=sys.stderr)
        return 1


def cmd_ingest(args, settings: Settings) -> int:
    from .ingest import ingest
    report = ingest(settings, args.sources or None, rebuild=args.rebuild, prune=args.prune, refetch=args.refetch)
    print(report.summary(), file=sys.stderr)
    if report.changed and not args.no_warm:
        _warm(settings)          # a new version: compute its prompt cache now, not at the first question
    return 0 if report.ok else 1


def _warm(settings: Settings) -> None:
    from .chat import Assistant
    from .ingest import Progress
    assistant = Assistant(settings)
    started = time.perf_counter()
    bar = None

    def progress(done: int, total: int) -> None:
        # The one-time cost of a new document in the `chunks` layout: each new chunk read once.
        nonlocal bar
        if bar is None:
            bar = Progress(total, "chunk")
            bar.log(f"prompt cache: reading {total} new chunk(s) once…")
        bar.step(f"{done}/{total}")
        if bar.bar is None and (done == total or done % 20 == 0):
            bar.log(f"prompt cache: {done}/{total} chunks, {time.perf_counter() - started:.0f} s")
    how = assistant.warm(progress=progress)
    if bar is not None:
        bar.close()
    if how.startswith("computed"):
        print(f"prompt cache: {how} in {time.perf_counter() - started:.0f} s ({assistant.layout()} layout)",
              file=sys.stderr)


def cmd_sources(args, settings: Settings) -> int:
    from . import store
    data = store.load_index(settings.index_dir, expect=store.index_expectations(settings), verify=False)
    rows = [{k: v for k, v in row.items() if k != "site"} for row in data.document_rows()]
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=1))
        return 0
    for r in rows:
        print(f"{r['doc_id']:<24} {r['chunks']:>4} chunks  {r['kind']:<8} {r['language']:<8} "
              f"{(r['updated_at'] or '')[:19]:<20} {r['title'][:60]}")
    print(f"{len(rows)} documents, {len(data.chunks)} chunks")
    return 0


def cmd_remove(args, settings: Settings) -> int:
    from .ingest import remove_documents
    gone = remove_documents(settings, args.docs)
    print(f"removed {', '.join(gone)}", file=sys.stderr)
    return 0


def cmd_retrieve(args, settings: Settings) -> int:
    from .chat import Assistant, validate_question
    question = validate_question(args.question, settings)
    assistant = Assistant(settings)
    result = assistant.retriever.search(question, args.k, mode=args.mode)
    out = {"question": question, "hits": [h.to_json() for h in result.hits], "relevant": result.relevant,
           "reason": result.reason, "retrieve_s": round(result.seconds, 4)}
    if args.json:
        print(json.dumps(out, ensure_ascii=False))
    else:
        for i, h in enumerate(result.hits, 1):
            print(f"[{i}] {h.score:.4f} {h.title[:50]} {h.text[:80]!r}")
        print("relevant" if result.relevant else f"not relevant: {result.reason}")
    return 0


def cmd_ask(args, settings: Settings) -> int:
    from .chat import Assistant, validate_question
    questions = [validate_question(q, settings) for q in args.questions]
    assistant = Assistant(settings)
    for question in questions:
        if args.json:
            print(json.dumps(assistant.ask(question, k=args.k).to_json(), ensure_ascii=False), flush=True)
            continue
        print_answer(assistant, question, k=args.k)
    return 0


def print_answer(assistant, question: str, history=None, k: int | None = None, out=None, err=None):
    """Stream one answer to the terminal, then its citations; returns the answer object."""
    out, err = out or sys.stdout, err or sys.stderr
    answer, streamed = None, ""
    events = assistant.stream(question, history=history, k=k)
    try:
        for event in events:
            if isinstance(event, TokenEvent):
                streamed += event.text
                print(event.text, end="", flush=True, file=out)
            else:
                answer = event.answer
    finally:
        events.close()           # Ctrl+C in `rag chat` stops the model here
    print(file=out)
    if answer.answer.strip() != streamed.strip():
        # The citation check repaired markers or replaced an unsupported draft.
        print(f"→ {answer.answer}", file=out)
    for c in answer.citations:
        page = f" (p. {c.page}{'–' + str(c.last_page) if c.last_page else ''})" if c.page else ""
        section = f", {c.section}" if c.section else ""
        print(f"  [{c.n}] {c.title}{section}{page}: {c.text[:90]!r}", file=out)
    t = answer.timings
    print(f"  ({t.ttft_s:.2f} s to first token, {t.tokens_per_s:.1f} tokens/s)", file=err)
    return answer


def cmd_chat(args, settings: Settings) -> int:
    from .chat import Assistant
    interactive = sys.stdin.isatty()
    if interactive:
        print("Ask about the documents; follow-ups use the earlier turns. /new starts over, /quit (or Ctrl+D) "
              "ends, Ctrl+C stops an answer.", file=sys.stderr)
    return chat_loop(Assistant(settings), _input_lines(interactive), k=args.k)


def _input_lines(interactive: bool):
    while True:
        try:
            line = input("> ") if interactive else sys.stdin.readline()
        except (EOFError, KeyboardInterrupt):
            print(file=sys.stderr)
            return
        if not interactive and line == "":
            return
        yield line


def chat_loop(assistant, lines, k: int | None = None, out=None, err=None) -> int:
    """The terminal conversation: each line a question answered with the turns before it
    as history (kept here, like the browser's per-session state)."""
    from .chat import Turn
    out, err = out or sys.stdout, err or sys.stderr
    history: list[Turn] = []
    for line in lines:
        question = line.strip()
        if not question:
            continue
        if question in ("/quit", "/exit"):
            break
        if question == "/new":
            history = []
            print("(new conversation)", file=err)
            continue
        if question.startswith("/") and " " not in question:
            print(f"unknown command {question}; /new starts over, /quit ends", file=err)
            continue
        try:
            answer = print_answer(assistant, question, history=history, k=k, out=out, err=err)
        except RagError as e:
            print(f"error: {e}", file=err)
            continue
        except KeyboardInterrupt:
            print("\n(stopped)", file=err)
            continue
        standalone = answer.standalone_question or question
        if standalone != question:
            print(f"  (looked up as: {standalone})", file=err)
        history.append(Turn(question=question, answer=answer.answer, standalone=standalone))
    return 0


def cmd_serve(args, settings: Settings) -> int:
    from .ui_page import serve
    serve(settings, host=args.host, port=args.port)
    return 0


def cmd_eval(args, settings: Settings) -> int:
    from .devtools.evaluate import run_eval
    return run_eval(settings, args)


def cmd_bench(args, settings: Settings) -> int:
    if args.corpus == "grown":
        from .devtools.bench_grown import run_grown
        return run_grown(settings, args)
    from .devtools.bench import run_bench
    return run_bench(settings, args)


COMMANDS = {"ingest": cmd_ingest, "sources": cmd_sources, "remove": cmd_remove, "retrieve": cmd_retrieve,
            "ask": cmd_ask, "chat": cmd_chat, "serve": cmd_serve, "eval": cmd_eval, "bench": cmd_bench}


if __name__ == "__main__":
    sys.exit(main())
