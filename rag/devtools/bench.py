"""`rag bench`: speed and memory measured as ratios in one run, against raw
llama-cpp-python on the same machine, so figures from machines 4-5x apart compare.
Writes a row to docs/BENCHMARKS.md with --write, keeping earlier rows."""
from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ..config import OFFLINE_HUB, Settings

QUESTIONS = [
    "Gemma 4 采用什么许可证？",
    "Gemma 4 有哪些模型尺寸？",
    "Gemma 4 支援多長的上下文視窗？",
    "Google 為什麼用 Apache 2.0 開放 Gemma 4？",
    "Which model sizes does Gemma 4 come in?",
    "When did Gemma 4 become available on Google Cloud?",
]


def _p(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _raw_speeds(llm, prompt_tokens: list[int], gen_tokens: int = 48) -> tuple[float, float]:
    """Raw llama-cpp-python: prompt read speed (fresh context) and greedy decode speed."""
    inner = llm.llm
    with llm.lock:
        inner.reset()
        started = time.perf_counter()
        inner.eval(prompt_tokens)
        prompt_tps = len(prompt_tokens) / (time.perf_counter() - started)
        n, first = 0, None
        started = time.perf_counter()
        for token in inner.generate(prompt_tokens, temp=0.0, reset=True):
            n += 1
            if first is None:
                first = time.perf_counter()
            if n >= gen_tokens:
                break
        decode_tps = (n - 1) / (time.perf_counter() - first) if n > 1 else 0.0
        inner.reset()
    llm.forget_prefix()          # the KV cache no longer holds the prefix
    return prompt_tps, decode_tps


def _raw_decode_on(llm, tokens: list[int], n_tokens: int) -> float:
    """Decode speed of raw generate() on exactly the pipeline's prompt and sampling."""
    inner = llm.llm
    with llm.lock:
        count, first = 0, None
        for token in inner.generate(tokens, **llm.sampling(), reset=True):
            if token in llm.stop_ids:
                break
            count += 1
            if first is None:
                first = time.perf_counter()
            if count >= n_tokens:
                break
        return (count - 1) / (time.perf_counter() - first) if count > 1 and first else 0.0


def _floor(llm, assistant, question: str, language: str) -> float:
    """Raw prefill of the question turn alone: the time to read just those tokens
    after a minimal context (best of two reads, the first warms llama.cpp's buffers)."""
    from .. import prompt as P
    system_only = llm.render([{"role": "system", "content": ""}], generation_prompt=False)
    turn = llm.render([{"role": "system", "content": ""}, {"role": "user", "content": P.user_turn(question, language)}])
    head, tokens = llm.tokenize(system_only), llm.tokenize(turn[len(system_only):])
    inner = llm.llm
    best = float("inf")
    with llm.lock:
        for _ in range(2):
            inner.reset()
            inner.eval(head)
            started = time.perf_counter()
            inner.eval(tokens)
            best = min(best, time.perf_counter() - started)
        inner.reset()
    llm.forget_prefix()
    return best


def _floor_in_context(llm, assistant, question: str, language: str) -> float:
    """Raw prefill of the pipeline's exact question turn, read after the cached corpus
    prefix (attention over the prefix makes this dearer than the turn alone)."""
    hits = assistant.retriever.search(question, assistant.settings.k).hits
    context = assistant.build_context(question, language, hits, [])
    prefix, rest = llm.split_prefix(context.messages)
    assistant.warm()
    suffix = llm.tokenize(rest)
    inner = llm.llm
    best = float("inf")
    with llm.lock:
        for _ in range(2):
            inner.n_tokens = len(llm.prefix_tokens)
            started = time.perf_counter()
            inner.eval(suffix)
            best = min(best, time.perf_counter() - started)
        inner.n_tokens = len(llm.prefix_tokens)
    return best


def _naive_ttft(llm, assistant, question: str, language: str) -> float:
    """Top-k chunks stuffed into one prompt, no cache: time to the first token."""
    from .. import prompt as P
    hits = assistant.retriever.search(question, assistant.settings.k).hits
    numbered = [P.Numbered(i + 1, assistant.data.chunks[assistant.data.position(h.chunk_id)]) for i, h in enumerate(hits)]
    messages = [{"role": "system", "content": P.retrieval_system_prompt()},
                {"role": "user", "content": P.user_turn(question, language, passages=P.passages_block(
                    numbered, assistant.data.documents))}]
    tokens = llm.tokenize(llm.render(messages))
    inner = llm.llm
    started = time.perf_counter()
    with llm.lock:
        inner.reset()
        for _ in inner.generate(tokens, temp=0.0, reset=True):
            break
        elapsed = time.perf_counter() - started
        inner.reset()
    llm.forget_prefix()
    return elapsed


def _cold_start(settings: Settings) -> float:
    cmd = [sys.executable, "-m", "rag", "ask", QUESTIONS[0], "--json"]
    started = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, **OFFLINE_HUB),
                       stdin=subprocess.DEVNULL, cwd=settings.root)
    elapsed = time.perf_counter() - started
    if p.returncode != 0:
        raise RuntimeError(f"cold start run failed: {p.stderr.strip()[-200:]}")
    return elapsed


def _ingest_throughput(settings: Settings, embedder) -> tuple[float, float, int]:
    from ..chunk import chunk_document
    from ..ingest import ingest, shipped_documents
    with tempfile.TemporaryDirectory() as tmp:
        s = Settings.from_env(index_dir=Path(tmp) / "index")
        embedder.passages(["warm up"])
        started = time.perf_counter()
        report = ingest(s, embedder=embedder, progress=False)
        pipeline_s = time.perf_counter() - started
    texts = [c.text for d in shipped_documents(settings) for c in chunk_document(d, settings.chunk_size,
                                                                                  settings.chunk_overlap)]
    started = time.perf_counter()
    for i in range(0, len(texts), 32):
        embedder.passages(texts[i:i + 32])
    raw_s = time.perf_counter() - started
    n = report.chunks_embedded
    return n / pipeline_s, len(texts) / raw_s, n


def machine_info() -> dict:
    from .eval_report import machine
    import llama_cpp
    return {"machine": machine(), "python": platform.python_version(), "llama_cpp_python": llama_cpp.__version__}


def run_bench(settings: Settings, args) -> int:
    from ..chat import Assistant
    from ..text import detect_language
    questions = QUESTIONS[::2] if args.quick else QUESTIONS
    log = (lambda m: None) if args.json else (lambda m: print(m, file=sys.stderr, flush=True))
    log("cold start (a fresh `rag ask` process)…")
    cold = _cold_start(settings)
    assistant = Assistant(settings)
    llm = assistant.llm
    if not llm.caches_prefix:
        raise SystemExit("rag bench measures the in-process model; unset RAG_LLM_URL")
    log("raw llama.cpp speeds…")
    sample = assistant.full_prompt()[0][:1600]
    prompt_tps, decode_tps = _raw_speeds(llm, llm.tokenize(sample))
    floors = [_floor(llm, assistant, q, detect_language(q)) for q in questions]
    log("naive pipeline (top-k stuffed, no cache)…")
    naive = [_naive_ttft(llm, assistant, q, detect_language(q)) for q in questions]
    log("warming the prompt cache…")
    started = time.perf_counter()
    how = assistant.warm()
    warm_s = time.perf_counter() - started
    log(f"pipeline ({how} prefix in {warm_s:.1f} s)…")
    ttfts, tps, ratios, retrieve = [], [], [], []
    for q in questions:
        answer = assistant.ask(q)
        t = answer.timings
        ttfts.append(t.ttft_s)
        retrieve.append(t.retrieve_s)
        if t.completion_tokens > 4:
            tps.append(t.tokens_per_s)
            context = assistant.build_context(q, answer.language, [], [])
            prefix, rest = llm.split_prefix(context.messages)
            tokens = llm.prompt_prefix_tokens(prefix) + llm.tokenize(rest) if prefix else llm.tokenize(prefix + rest)
            raw = _raw_decode_on(llm, tokens, t.completion_tokens)
            if raw:
                ratios.append(t.tokens_per_s / raw)
        log(f"  {q[:30]:<32} ttft {t.ttft_s:.2f} s, {t.tokens_per_s:.1f} tok/s")
    in_context = [_floor_in_context(llm, assistant, q, detect_language(q)) for q in questions]
    retrieval_ms = []
    for q in QUESTIONS * 3:
        retrieval_ms.append(assistant.retriever.search(q, settings.k).seconds * 1000)
    log("ingest throughput…")
    ingest_cps, embed_cps, n_chunks = _ingest_throughput(settings, assistant.embedder)
    floor = statistics.median(floors)
    ttft50 = statistics.median(ttfts)
    naive50 = statistics.median(naive)
    result = {
        "date": time.strftime("%Y-%m-%d"), **machine_info(), "model": assistant.model_name,
        "layout": f"{assistant.layout()}, {getattr(llm, 'cache_type_k', 'f16')} keys", "questions": len(questions),
        "threads": settings.n_threads,
        "gpu_layers": getattr(llm, "gpu_layers", 0),
        "ttft_p50_s": round(ttft50, 3), "ttft_p90_s": round(_p(ttfts, 0.9), 3),
        "ttft_floor_s": round(floor, 3), "ttft_vs_floor": round(ttft50 / floor, 2) if floor else None,
        "ttft_floor_in_context_s": round(statistics.median(in_context), 3),
        "ttft_vs_floor_in_context": round(ttft50 / statistics.median(in_context), 2),
        "naive_ttft_p50_s": round(naive50, 3), "ttft_speedup": round(naive50 / ttft50, 1) if ttft50 else None,
        "tokens_per_s": round(statistics.median(tps), 2) if tps else 0.0,
        "raw_tokens_per_s": round(decode_tps, 2), "raw_prompt_tokens_per_s": round(prompt_tps, 1),
        "speed_ratio": round(statistics.median(ratios), 3) if ratios else None,
        "retrieve_p50_ms": round(statistics.median(retrieval_ms), 2),
        "ingest_chunks_per_s": round(ingest_cps, 2), "embedder_chunks_per_s": round(embed_cps, 2),
        "ingest_vs_embedder": round(ingest_cps / embed_cps, 3) if embed_cps else None, "ingest_chunks": n_chunks,
        "cold_start_s": round(cold, 2), "prefix_warm_s": round(warm_s, 2), "prefix_state": how,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    return report(result, args, settings.root / "docs" / "BENCHMARKS.md", _append_row)


def report(result: dict, args, markdown: Path, append_row) -> int:
    """Print a bench result (JSON with --json, else aligned lines); with --write, append its
    row to the Markdown file through `append_row`."""
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        width = max(map(len, result)) + 2
        for key, value in result.items():
            print(f"{key:<{width}} {value}")
    if args.write:
        append_row(markdown, result)
    return 0


COLUMNS = ["date", "machine", "layout", "ttft_p50_s", "ttft_p90_s", "ttft_floor_s", "ttft_vs_floor", "naive_ttft_p50_s",
           "ttft_speedup", "tokens_per_s", "raw_tokens_per_s", "speed_ratio", "raw_prompt_tokens_per_s",
           "retrieve_p50_ms", "ingest_chunks_per_s", "ingest_vs_embedder", "cold_start_s", "peak_rss_mb"]


def _append_row(path: Path, r: dict) -> None:
    append_table_row(path, r, COLUMNS, "<!-- bench rows -->",
                     "## `rag bench` runs\n\nOne row per run, newest last. Ratios are measured within the run.")


def append_table_row(path: Path, r: dict, columns: list[str], marker: str, heading: str) -> None:
    """Add `r` as the newest row of the Markdown table that ends at `marker` (the table,
    under `heading`, is started at the end of the file the first time)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    if marker not in text:
        text += ("\n" + heading + "\n\n| " + " | ".join(columns) + " |\n|" + "---|" * len(columns) + "\n"
                 + marker + "\n")
    row = "| " + " | ".join(str(r.get(c, "")) for c in columns) + " |\n"
    path.write_text(text.replace(marker + "\n", row + marker + "\n"), encoding="utf-8")
