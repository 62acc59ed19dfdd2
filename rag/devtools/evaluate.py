"""`rag eval`: quality on a question set (eval/dev.jsonl). Retrieval: evidence@1,
evidence@5 and MRR per language for dense, BM25, hybrid and hybrid with the glossary,
plus the refusal decision. Answers: fact accuracy, citation validity and support,
language match (detected from the answer text), refusal recall and false refusals."""
from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

from ..config import Settings
from ..errors import RagError
from ..text import detect_language, normalize
from .eval_report import LANGS, append_markdown, machine, print_table



def load_set(path: Path) -> list[dict]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise RagError(f"cannot read the question set {path} ({e.strerror}); pass --set FILE") from None
    items = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError:
            raise RagError(f"{path}:{n} is not valid JSON") from None
        turns = item.get("turns") if isinstance(item, dict) else None
        if turns is not None:
            if not isinstance(turns, list) or not turns or not all(
                    isinstance(t, dict) and "question" in t and "in_scope" in t for t in turns):
                raise RagError(f"{path}:{n} 'turns' must be a list of objects with 'question' and 'in_scope'")
        elif not isinstance(item, dict) or "question" not in item or "in_scope" not in item:
            raise RagError(f"{path}:{n} needs at least 'question' and 'in_scope' (or 'turns' for a conversation)")
        items.append(item)
    return items


def only_split(items: list[dict], split: str | None) -> list[dict]:
    """The items of one split ("tune" or "heldout"), or all of them ("all"). With no split
    named, a set that has splits is scored on its `tune` part: the held-out part is scored
    only when asked for, at the end of a change."""
    if split is None and any("split" in i for i in items):
        split = "tune"
        print("scoring the tune split; --split heldout or --split all for the rest", file=sys.stderr)
    if not split or split == "all":
        return items
    chosen = [i for i in items if i.get("split") == split]
    if not chosen:
        raise RagError(f"the question set has no items with \"split\": \"{split}\"")
    return chosen


def has_evidence(text: str, evidence: list[str]) -> bool:
    flat = normalize(" ".join(text.split()))
    return any(normalize(" ".join(e.split())) in flat for e in evidence)


def rank_of_evidence(hits, evidence: list[str]) -> int | None:
    for i, h in enumerate(hits, 1):
        if has_evidence(h.text if hasattr(h, "text") else h["text"], evidence):
            return i
    return None


def fact_ok(answer: str, facts: list[list[str]]) -> bool:
    flat = normalize(answer).replace(" ", "")
    return all(any(normalize(alt).replace(" ", "") in flat for alt in alts) for alts in facts)


def _p50(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def retrieval_metrics(assistant, items: list[dict], mode: str, glossary: bool = True,
                      translate: bool = False) -> dict:
    retriever = assistant.retriever
    lexicon = None if glossary else {}         # {}: the variant without cross-language words
    per_lang: dict[str, dict] = {}
    latencies = []
    per_lang_latency: dict[str, list[float]] = {}
    for item in items:
        if not item["in_scope"]:
            continue
        extra = 0.0
        also = None
        if translate and detect_language(item["question"]) == "en":
            started = time.perf_counter()
            from .translate import translate as translate_question
            also = translate_question(assistant, item["question"])
            extra = time.perf_counter() - started
        result = retriever.search(item["question"], 5, mode=mode, also=also, glossary=lexicon)
        latencies.append(result.seconds + extra)
        per_lang_latency.setdefault(item["language"], []).append(result.seconds + extra)
        rank = rank_of_evidence(result.hits, item["evidence"])
        bucket = per_lang.setdefault(item["language"], {"n": 0, "at1": 0, "at5": 0, "rr": 0.0, "misses": []})
        bucket["n"] += 1
        bucket["at1"] += rank == 1
        bucket["at5"] += rank is not None
        bucket["rr"] += 1.0 / rank if rank else 0.0
        if rank is None:
            bucket["misses"].append(item.get("id", item["question"]))
    summary = _summarise(per_lang, latencies)
    for lang, values in per_lang_latency.items():
        summary["by_language"][lang]["p50_ms"] = round(_p50(values) * 1000, 2)
    return summary


def _summarise(per_lang: dict, latencies: list[float]) -> dict:
    total = {"n": 0, "at1": 0, "at5": 0, "rr": 0.0}
    by_language = {}
    for lang, b in per_lang.items():
        for key in total:
            total[key] += b[key]
        by_language[lang] = {"n": b["n"], "evidence_at_1": round(b["at1"] / b["n"], 3),
                             "evidence_at_5": round(b["at5"] / b["n"], 3), "mrr": round(b["rr"] / b["n"], 3),
                             "misses": b["misses"]}
    n = max(total["n"], 1)
    return {"n": total["n"], "evidence_at_1": round(total["at1"] / n, 3), "evidence_at_5": round(total["at5"] / n, 3),
            "mrr": round(total["rr"] / n, 3), "retrieve_p50_ms": round(_p50(latencies) * 1000, 2),
            "by_language": by_language}


def refusal_metrics(assistant, items: list[dict]) -> dict:
    """The retrieval-side decision alone: is the question judged out of scope?"""
    oos = [i for i in items if not i["in_scope"]]
    ins = [i for i in items if i["in_scope"]]
    refused_oos = [i for i in oos if not assistant.retriever.search(i["question"], 5).relevant]
    refused_in = [i for i in ins if not assistant.retriever.search(i["question"], 5).relevant]
    return {"refusal_recall": round(len(refused_oos) / max(len(oos), 1), 3),
            "false_refusal_rate": round(len(refused_in) / max(len(ins), 1), 3),
            "missed_out_of_scope": [i.get("id") for i in oos if i not in refused_oos],
            "refused_in_scope": [i.get("id") for i in ins if i in refused_in]}


def answer_metrics(assistant, items: list[dict], limit: int | None = None, log=None) -> dict:
    chosen = items if limit is None else _balanced(items, limit)
    rows = []
    for item in chosen:
        row = score_answer(item, assistant.ask(item["question"]), item["language"], item.get("id"))
        rows.append(row)
        if log:
            log_row(log, row)
    return answer_summary(rows)


def baseline_summary(assistant, items: list[dict], limit: int | None = None, log=None) -> dict:
    """The plain baseline on the same questions (rag/devtools/baseline.py): the article pasted
    into a chat with the same model."""
    from .baseline import article_text, ask_baseline
    article = article_text(assistant.data)
    rows = []
    for item in (items if limit is None else _balanced(items, limit)):
        answer = ask_baseline(assistant.llm, article, item["question"], item["language"], assistant.settings.max_tokens)
        rows.append(score_answer(item, answer, item["language"], item.get("id")))
        if log:
            log_row(log, rows[-1])
    s = answer_summary(rows)
    return {"answered_n": s["answered_n"], "fact_accuracy": s["fact_accuracy"], "language_match": s["language_match"],
            "refusal_recall_answers": s["answer_refusal_recall"],
            "false_refusal_rate_answers": s["answer_false_refusal_rate"], "answer_ttft_p50_s": s["ttft_p50_s"],
            "by_language": {l: b["fact_accuracy"] for l, b in s["answers_by_language"].items()},
            "answers": [{k: r[k] for k in ("id", "refused", "facts", "language_ok", "answer")} for r in rows]}


def score_answer(item: dict, answer, language: str, ident) -> dict:
    """One answered question (an `Answer`) against its item: facts, citation validity and
    support, language."""
    provided = {c.n for c in answer.citations}
    valid = all(m in provided for m in _markers(answer.answer))
    supported = None
    if item["in_scope"] and answer.citations and item.get("evidence"):
        supported = any(has_evidence(c.text, item["evidence"]) for c in answer.citations)
    return {"id": ident, "language": language, "in_scope": item["in_scope"],
            "refused": answer.refused, "facts": fact_ok(answer.answer, item.get("facts") or []),
            "valid": valid, "supported": supported,
            "language_ok": language_matches(answer.answer, language, item["question"]),
            "ttft_s": answer.timings.ttft_s, "answer": answer.answer}


def log_row(log, row: dict) -> None:
    log(f"{row['id']}: {'REFUSED ' if row['refused'] else ''}facts={row['facts']} "
        f"cite={row['valid']}/{row['supported']} lang={row['language_ok']} {row['answer'][:100]!r}")


def _balanced(items: list[dict], limit: int) -> list[dict]:
    """An even spread over languages and out-of-scope questions, in file order."""
    groups: dict[str, list[dict]] = {}
    for item in items:
        groups.setdefault(item["language"] if item["in_scope"] else "oos", []).append(item)
    out, i = [], 0
    while len(out) < limit and any(i < len(g) for g in groups.values()):
        for g in groups.values():
            if i < len(g) and len(out) < limit:
                out.append(g[i])
        i += 1
    return out


def _markers(text: str) -> list[int]:
    from ..cite import parse_markers
    return parse_markers(text)


def language_matches(answer: str, wanted: str, question: str = "") -> bool:
    """Detected from the answer text. A Chinese answer written only in characters
    shared by both scripts matches either script, and so does any Chinese answer to a
    question that itself has no script-specific character ("Gemma 4 提供哪些模型尺寸？")."""
    from ..cite import MARKER
    from ..text import script_neutral
    if wanted not in LANGS:
        return True
    text = MARKER.sub("", answer)
    found = detect_language(text)
    if found == wanted:
        return True
    both_chinese = found.startswith("zh") and wanted.startswith("zh")
    return both_chinese and (script_neutral(text) or (bool(question) and script_neutral(question)))


def answer_summary(rows: list[dict]) -> dict:
    def rate(sel, key):
        vals = [r[key] for r in sel if r[key] is not None]
        return round(sum(bool(v) for v in vals) / len(vals), 3) if vals else None

    ins = [r for r in rows if r["in_scope"]]
    answered = [r for r in ins if not r["refused"]]
    oos = [r for r in rows if not r["in_scope"]]
    out = {"answered_n": len(rows), "fact_accuracy": rate(ins, "facts"), "citation_validity": rate(rows, "valid"),
           "citation_support": rate(answered, "supported"), "language_match": rate(rows, "language_ok"),
           "answer_refusal_recall": round(sum(r["refused"] for r in oos) / len(oos), 3) if oos else None,
           "answer_false_refusal_rate": round(sum(r["refused"] for r in ins) / len(ins), 3) if ins else None,
           "ttft_p50_s": round(_p50([r["ttft_s"] for r in rows]), 3), "rows": rows}
    out["answers_by_language"] = {}
    for lang in LANGS:
        sel = [r for r in ins if r["language"] == lang]
        if sel:
            out["answers_by_language"][lang] = {
                "n": len(sel), "fact_accuracy": rate(sel, "facts"),
                "citation_support": rate([r for r in sel if not r["refused"]], "supported"),
                "language_match": rate(sel, "language_ok")}
    return out


def run_eval(settings: Settings, args) -> int:
    from ..chat import Assistant
    path = Path(args.set_path) if args.set_path else settings.root / "eval" / "dev.jsonl"
    items = only_split(load_set(path), getattr(args, "split", None))
    if any("turns" in i for i in items):
        from .eval_turns import run_conversations
        return run_conversations(settings, args, path, items)
    assistant = Assistant(settings)
    started = time.perf_counter()
    variants = {
        "dense": retrieval_metrics(assistant, items, "dense"),
        "bm25": retrieval_metrics(assistant, items, "bm25", glossary=False),
        "hybrid": retrieval_metrics(assistant, items, "hybrid", glossary=False),
        "hybrid+glossary": retrieval_metrics(assistant, items, "hybrid", glossary=True),
    }
    if getattr(args, "translate", False):
        variants["hybrid+translation"] = retrieval_metrics(assistant, items, "hybrid", glossary=False, translate=True)
        variants["hybrid+glossary+translation"] = retrieval_metrics(assistant, items, "hybrid", translate=True)
    main = variants["hybrid+glossary"]
    result = {"set": str(path), "n": main["n"], "evidence_at_1": main["evidence_at_1"],
              "evidence_at_5": main["evidence_at_5"], "mrr": main["mrr"], "retrieve_p50_ms": main["retrieve_p50_ms"],
              "by_language": main["by_language"], "variants": {k: {x: v[x] for x in ("evidence_at_1", "evidence_at_5",
                                                                                      "mrr", "retrieve_p50_ms")}
                                                               | {"by_language": {l: b["evidence_at_5"] for l, b in
                                                                                  v["by_language"].items()},
                                                                  "p50_ms_en": v["by_language"].get("en", {}).get("p50_ms")}
                                                               for k, v in variants.items()}}
    result.update(refusal_metrics(assistant, items))
    if not args.retrieval_only:
        log = None if args.json else (lambda line: print(line, file=sys.stderr, flush=True))
        answers = answer_metrics(assistant, items, args.limit, log)
        for key in ("fact_accuracy", "citation_validity", "citation_support", "language_match"):
            result[key] = answers[key]
        result["refusal_recall_answers"] = answers["answer_refusal_recall"]
        result["false_refusal_rate_answers"] = answers["answer_false_refusal_rate"]
        result["answered_n"] = answers["answered_n"]
        result["answer_ttft_p50_s"] = answers["ttft_p50_s"]
        for lang, b in answers["answers_by_language"].items():
            result["by_language"].setdefault(lang, {}).update(b)
        result["answers"] = [{k: r[k] for k in ("id", "refused", "facts", "valid", "supported", "language_ok", "answer")}
                             for r in answers["rows"]]
    if getattr(args, "baseline", False):
        log = None if args.json else (lambda line: print("baseline " + line, file=sys.stderr, flush=True))
        result["baseline"] = baseline_summary(assistant, items, args.limit, log)
    result.update({"seconds": round(time.perf_counter() - started, 1), "machine": machine(),
                   "date": time.strftime("%Y-%m-%d"), "model": assistant.model_name,
                   "layout": assistant.layout() if not settings.llm_url else "remote"})
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        print_table(result)
    if getattr(args, "write", False):
        append_markdown(settings.root / "docs" / "EVAL.md", result)
    return 0
