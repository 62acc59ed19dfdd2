"""`rag bench --corpus grown`: the same figures at the shipped corpus and at a grown one
(shipped + the machine's licence texts), in one run and one model load, so corpus growth
reads as ratios. Both indexes are built in a temporary folder; the project's index is
never touched. Layouts compared per question, interleaved: `chunks` (at grown size the
shipped documents as a cached base and the licences' chunks placed from stored KV; at shipped
size stored per-chunk KV alone), `full` (the shipped default, shipped size only) and naive
top-k stuffing."""
from __future__ import annotations

import hashlib
import json
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from ..config import Settings
from ..types import Answer

LICENCES_DIR = Path("/usr/share/common-licenses")
ANSWER_TOKENS = 16          # enough for a decode rate; TTFT does not depend on it


def grown_sources(dest: Path, cap_kb: float, source: Path = LICENCES_DIR) -> list[Path]:
    """Copy the licence texts (each text once: GPL is a link to GPL-3) as .txt files into
    `dest`, in name order, until `cap_kb` of text. None when the folder is absent."""
    if not source.is_dir():
        return []
    dest.mkdir(parents=True, exist_ok=True)
    seen, out, total = set(), [], 0
    for path in sorted(source.iterdir()):
        if path.is_symlink() or not path.is_file():
            continue
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if digest in seen or total + len(data) > cap_kb * 1024:
            continue
        seen.add(digest)
        total += len(data)
        target = dest / f"{path.name}.txt"
        target.write_bytes(data)
        out.append(target)
    return out


def _dir_bytes(path: Path) -> int:
    """The index version's files (vectors, BM25, chunks, manifest), no prompt state."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.name.endswith(".state"))


def _answer(assistant, question: str) -> Answer:
    """One answer with the layout's standing state in place first, as in serving, where one
    layout owns the context (here three share one model, so each gets it back untimed)."""
    if assistant.layout() == "chunks":
        assistant.chunk_kv().place([], start=assistant.context.base_start(assistant.llm))
    else:
        assistant.warm()
    return assistant.ask(question)


def _turn_after(llm, kv, filler: str, n_tokens: int, turn: list[int]) -> float:
    """Time to read a question turn after `n_tokens` of cached context, the cost an
    append-only cached prefix of that size pays per question (content does not change the
    cost, so the context is filled with copies of one stored chunk)."""
    copies = max(1, n_tokens // max(1, len(llm.tokenize(filler))))
    inner = llm.llm
    with llm.lock:
        base = len(kv.place([filler] * copies, held=True))
        best = float("inf")
        for _ in range(2):                 # the first read also applies the placement's shift
            inner.n_tokens = base          # eval() drops the cells past n_tokens first
            started = time.perf_counter()
            inner.eval(turn)
            best = min(best, time.perf_counter() - started)
        inner.n_tokens = base
    return best


def run_grown(settings: Settings, args) -> int:
    from . import bench as B
    from .. import store
    from ..chat import Assistant
    from ..embed import Embedder
    from ..generate import LocalLLM
    from ..ingest import ingest
    from ..text import detect_language
    log = (lambda m: None) if args.json else (lambda m: print(m, file=sys.stderr, flush=True))
    questions = B.QUESTIONS[::2] if args.quick else B.QUESTIONS
    tmp = Path(tempfile.mkdtemp(prefix="rag-bench-grown-"))
    try:
        licences = grown_sources(tmp / "licences", args.grown_kb)
        if not licences:
            log(f"no licence texts in {LICENCES_DIR}: the grown corpus is the shipped one")
        embedder = Embedder(Path(settings.embedder_path), threads=settings.n_threads)
        embedder.passages(["warm up"])
        sizes = {}
        for name, extra in (("shipped", []), ("grown", licences)):
            s = Settings.from_env(index_dir=tmp / name / "index", max_tokens=ANSWER_TOKENS)
            log(f"ingest ({name})…")
            started = time.perf_counter()
            ingest(s, embedder=embedder, progress=False)
            if extra:
                ingest(s, [str(p) for p in extra], embedder=embedder, progress=False)
            sizes[name] = {"settings": s, "ingest_s": time.perf_counter() - started}
        # One chunk KV store for both: the shipped chunks keep their text and numbers in the
        # grown index (the licences come after them), so their stored KV is the same.
        shared = tmp / "chunk-kv"
        shared.mkdir()
        for entry in sizes.values():
            (Path(entry["settings"].index_dir) / "chunk-kv").symlink_to(shared)
        llm = LocalLLM(Settings.from_env(max_tokens=ANSWER_TOKENS))
        assistants = {}
        for name, entry in sizes.items():
            s = entry["settings"]
            for mode in ("chunks", "full") if name == "shipped" else ("chunks",):
                # At shipped size the whole corpus fits the base, so `chunks` there is the
                # stored-KV design alone (no base): what a corpus of pieces only costs.
                base = 0 if name == "shipped" else None
                a = Assistant(Settings.from_env(index_dir=s.index_dir, max_tokens=ANSWER_TOKENS,
                                                context_mode=mode, chunks_base_tokens=base), llm=llm, embedder=embedder)
                assistants[(name, mode)] = a
            a = assistants[(name, "chunks")]
            pieces = a.chunk_pieces(list(range(len(a.data.chunks))))
            entry.update(chunks=len(a.data.chunks), documents=len(a.data.documents),
                         corpus_tokens=sum(llm.count_tokens(p) for p in pieces),
                         base_chunks=a.context.base_end(),
                         stored_tokens=sum(llm.count_tokens(p) for p in a.context.stored_pieces()),
                         index_bytes=_dir_bytes(store.current_path(Path(s.index_dir))))
        # The one-time cost: each chunk the questions retrieve is read once (the whole grown
        # corpus would take an hour on a shared 2-core machine; its cost is extrapolated).
        prep_tokens, prep_s = 0, 0.0
        for name in sizes:
            a = assistants[(name, "chunks")]
            log(f"chunk KV for the questions' passages ({name})…")
            for q in questions:
                hits = a.retriever.search(q, a.settings.k).hits
                context = a.build_context(q, detect_language(q), hits, [])
                missing = [p for p in context.pieces if not a.chunk_kv().has(p)]
                started = time.perf_counter()
                a.chunk_kv().prepare(missing)
                prep_s += time.perf_counter() - started
                prep_tokens += sum(llm.count_tokens(p) for p in missing)
        for a in assistants.values():
            a.retriever.search(questions[0], a.settings.k)      # jieba and FAISS warm, as in serving
        log("full-corpus prefix (shipped)…")
        started = time.perf_counter()
        assistants[("shipped", "full")].warm()
        full_warm_s = time.perf_counter() - started
        log("base prefix (grown)…")
        started = time.perf_counter()
        grown = assistants[("grown", "chunks")]
        grown.chunk_kv().place([], start=grown.context.base_start(llm))
        base_warm_s = time.perf_counter() - started
        floors = [B._floor(llm, None, q, detect_language(q)) for q in questions]
        runs = {key: [] for key in ("shipped_chunks", "shipped_full", "grown_chunks", "shipped_naive", "grown_naive")}
        retrieve = {"shipped": [], "grown": []}
        log("questions, layouts interleaved…")
        for q in questions:
            language = detect_language(q)
            for name, mode in (("shipped", "chunks"), ("shipped", "full"), ("grown", "chunks")):
                answer = _answer(assistants[(name, mode)], q)
                runs[f"{name}_{mode}"].append(answer)
                if mode == "chunks":
                    retrieve[name].append(answer.timings.retrieve_s * 1000)
            for name in sizes:
                runs[f"{name}_naive"].append(B._naive_ttft(llm, assistants[(name, "chunks")], q, language))
            t = {k: (v[-1].timings.ttft_s if isinstance(v[-1], Answer) else v[-1]) for k, v in runs.items()}
            log("  " + q[:28].ljust(30) + "  ".join(f"{k} {x:.2f}" for k, x in t.items()))
        # Candidate: one append-only cached prefix holding the whole corpus. Per question it
        # pays the read of its turn after that many cached tokens; measured up to the context.
        a = assistants[("shipped", "chunks")]
        turn = llm.tokenize(llm.render([{"role": "system", "content": ""},
                                         {"role": "user", "content": questions[0]}])[
            len(llm.render([{"role": "system", "content": ""}], generation_prompt=False)):])
        filler = a.chunk_pieces([0])[0]
        a.chunk_kv().prepare([filler])
        append_only = {}
        for n in (sizes["shipped"]["corpus_tokens"], settings.n_ctx - 512):
            append_only[str(n)] = round(_turn_after(llm, a.chunk_kv(), filler, n, turn), 3)
        kv_files = list(shared.glob("*.kv"))
        kv_bytes = sum(p.stat().st_size for p in kv_files)
        kv_tokens = sum(len(json.loads(_kv_header(p))["tokens"]) for p in kv_files)
        per_token = kv_bytes / kv_tokens if kv_tokens else 0.0
        per_token_s = prep_s / prep_tokens if prep_tokens else 0.0

        def ttfts(key):
            return [r.timings.ttft_s if isinstance(r, Answer) else r for r in runs[key]]

        def p50(key):
            return statistics.median(ttfts(key))

        def tps(key):
            rates = [r.timings.tokens_per_s for r in runs[key] if isinstance(r, Answer)
                     and r.timings.completion_tokens > 4]
            return round(statistics.median(rates), 2) if rates else 0.0
        floor = statistics.median(floors)
        result = {"date": time.strftime("%Y-%m-%d"), **B.machine_info(), "corpus": "grown",
                  "grown_kb_cap": args.grown_kb, "licence_files": len(licences), "questions": len(questions),
                  "threads": settings.n_threads, "ttft_floor_s": round(floor, 3)}
        for name, entry in sizes.items():
            result.update({
                f"{name}_documents": entry["documents"], f"{name}_chunks": entry["chunks"],
                f"{name}_corpus_tokens": entry["corpus_tokens"], f"{name}_index_mb": round(entry["index_bytes"] / 1e6, 2),
                f"{name}_ingest_s": round(entry["ingest_s"], 1),
                f"{name}_ttft_p50_s": round(p50(f"{name}_chunks"), 3),
                f"{name}_ttft_p90_s": round(B._p(ttfts(f"{name}_chunks"), 0.9), 3),
                f"{name}_naive_ttft_p50_s": round(p50(f"{name}_naive"), 3),
                f"{name}_ttft_speedup": round(p50(f"{name}_naive") / p50(f"{name}_chunks"), 1),
                f"{name}_tokens_per_s": tps(f"{name}_chunks"),
                f"{name}_retrieve_p50_ms": round(statistics.median(retrieve[name]), 1),
                f"{name}_base_chunks": entry["base_chunks"],
                f"{name}_chunk_kv_mb_estimate": round(entry["stored_tokens"] * per_token / 1e6, 1),
                f"{name}_chunk_kv_prepare_s_estimate": round(entry["stored_tokens"] * per_token_s, 0),
            })
        result.update({
            "shipped_full_ttft_p50_s": round(p50("shipped_full"), 3),
            "shipped_full_ttft_p90_s": round(B._p(ttfts("shipped_full"), 0.9), 3),
            "shipped_full_tokens_per_s": tps("shipped_full"), "shipped_full_prefix_warm_s": round(full_warm_s, 1),
            "grown_base_warm_s": round(base_warm_s, 1),
            "grown_vs_shipped_ttft": round(p50("grown_chunks") / p50("shipped_chunks"), 2),
            "grown_vs_shipped_full_ttft": round(p50("grown_chunks") / p50("shipped_full"), 2),
            "grown_vs_floor": round(p50("grown_chunks") / floor, 2) if floor else None,
            "chunk_kv_kb_per_token": round(per_token / 1024, 1),
            "chunk_kv_prepare_tokens_per_s": round(1 / per_token_s, 1) if per_token_s else None,
            "append_only_turn_read_s": append_only,
            "append_only_max_tokens": settings.n_ctx - settings.max_tokens - 64,
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        })
        return B.report(result, args, settings.root / "docs" / "BENCHMARKS.md", _append_row)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _kv_header(path: Path) -> bytes:
    from ..kvcache import MAGIC
    with open(path, "rb") as f:
        head = f.read(len(MAGIC) + 4)
        return f.read(int.from_bytes(head[len(MAGIC):], "little"))


COLUMNS = ["date", "machine", "licence_files", "shipped_corpus_tokens", "grown_corpus_tokens", "shipped_full_ttft_p50_s",
           "shipped_ttft_p50_s", "grown_ttft_p50_s", "grown_ttft_p90_s", "grown_vs_shipped_full_ttft",
           "grown_naive_ttft_p50_s", "grown_ttft_speedup", "ttft_floor_s", "grown_tokens_per_s", "grown_retrieve_p50_ms",
           "grown_index_mb", "grown_ingest_s", "grown_chunk_kv_mb_estimate", "peak_rss_mb"]


def _append_row(path: Path, r: dict) -> None:
    from .bench import append_table_row
    append_table_row(path, r, COLUMNS, "<!-- grown bench rows -->",
                     "## `rag bench --corpus grown` runs\n\nOne row per run, newest last; shipped and grown "
                     "measured in the same run.")
