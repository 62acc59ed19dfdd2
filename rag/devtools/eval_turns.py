"""`rag eval --set eval/multiturn.jsonl`: a set of conversations. Each turn is asked with
the earlier turns of its conversation as history, exactly as the chat does, and scored
like a single question (facts, citation validity and support, language, refusal).
First turns and follow-up turns are reported apart, so the cost of following up is a
difference in one table."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from ..config import Settings
from .eval_report import LANGS, machine
from .evaluate import answer_summary, log_row, score_answer

KEYS = ("fact_accuracy", "citation_validity", "citation_support", "language_match",
        "answer_refusal_recall", "answer_false_refusal_rate", "ttft_p50_s")


def conversation_rows(assistant, conversations: list[dict], log=None) -> list[dict]:
    from ..chat import Turn
    rows = []
    for conv in conversations:
        history: list[Turn] = []
        language = conv.get("language", "")
        for n, turn in enumerate(conv["turns"], 1):
            answer = assistant.ask(turn["question"], history)
            row = score_answer(turn, answer, turn.get("language", language), f"{conv.get('id', '?')}/{n}")
            row["follow_up"] = n > 1
            row["standalone"] = answer.standalone_question
            rows.append(row)
            if log:
                log_row(log, row)
            history.append(Turn(question=turn["question"], answer=answer.answer,
                                standalone=answer.standalone_question or turn["question"]))
    return rows


def summarise(rows: list[dict]) -> dict:
    out = {}
    for name, chosen in (("first turns", [r for r in rows if not r["follow_up"]]),
                         ("follow-ups", [r for r in rows if r["follow_up"]]), ("all", rows)):
        if chosen:
            s = answer_summary(chosen)
            out[name] = {"turns": len(chosen), "in_scope": sum(r["in_scope"] for r in chosen)} | {k: s[k] for k in KEYS}
    follow = [r for r in rows if r["follow_up"] and r["in_scope"]]
    out["follow-ups by language"] = {
        lang: answer_summary(sel)["fact_accuracy"]
        for lang in LANGS if (sel := [r for r in follow if r["language"] == lang])}
    return out


def run_conversations(settings: Settings, args, path: Path, conversations: list[dict]) -> int:
    from ..chat import Assistant
    assistant = Assistant(settings)
    started = time.perf_counter()
    log = None if args.json else (lambda line: print(line, file=sys.stderr, flush=True))
    chosen = conversations[:args.limit] if args.limit else conversations
    rows = conversation_rows(assistant, chosen, log)
    result = {"set": str(path), "split": getattr(args, "split", None) or "all", "conversations": len(chosen),
              "summary": summarise(rows),
              "answers": [{k: r[k] for k in ("id", "refused", "facts", "valid", "supported", "language_ok",
                                             "standalone", "answer")} for r in rows],
              "seconds": round(time.perf_counter() - started, 1), "machine": machine(),
              "date": time.strftime("%Y-%m-%d"), "model": assistant.model_name,
              "layout": assistant.layout() if not settings.llm_url else "remote"}
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        print("\n".join(table(result)))
    if getattr(args, "write", False):
        with open(settings.root / "docs" / "EVAL.md", "a", encoding="utf-8") as f:
            f.write(f"\n### {result['date']}: conversations, {result['machine']}, model {result['model']}, "
                    f"layout {result['layout']}\n\n" + "\n".join(table(result)) + "\n")
    return 0


def table(r: dict) -> list[str]:
    def cell(v):
        return "-" if v is None else f"{v}"
    lines = [f"{r['set']} ({r['split']}): {r['conversations']} conversations", "",
             "| turns | n | in scope | facts | citation validity | citation support | language | "
             "refusal recall | false refusals | TTFT p50 s |", "|---|---|---|---|---|---|---|---|---|---|"]
    for name in ("first turns", "follow-ups", "all"):
        s = r["summary"].get(name)
        if s:
            lines.append(f"| {name} | {s['turns']} | {s['in_scope']} | " +
                         " | ".join(cell(s[k]) for k in KEYS) + " |")
    by = r["summary"]["follow-ups by language"]
    lines.append("\nFollow-up facts by language: " + ", ".join(f"{l} {cell(v)}" for l, v in by.items()))
    return lines
