"""Load a (synthetic) GGUF through rag.generate.LocalLLM and time it.

    python bench.py one MODEL.gguf NGL      one configuration, prints a line 'RESULT {json}'
    python bench.py all MODEL.gguf [...]    every configuration, each in its own process:
        gpu  n_gpu_layers=-1 (all layers), the GPU visible
        ngl0 n_gpu_layers=0, the GPU visible (llama.cpp may still send big prompt batches to it)
        cpu  n_gpu_layers=0 with CUDA_VISIBLE_DEVICES='' (a pure CPU run of the same build)

Prompt speed: eval of PROMPT_N tokens from an empty cache (best of REPEATS).
Decode speed: DECODE_N single-token evals after it, greedy (best of REPEATS).
Both from wall clock and from llama.cpp's own perf counters.
"""
from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import time

PROMPT_N = int(os.environ.get("BENCH_PROMPT_N", 512))
DECODE_N = int(os.environ.get("BENCH_DECODE_N", 64))
REPEATS = int(os.environ.get("BENCH_REPEATS", 3))


class Tee(io.TextIOBase):
    def __init__(self, stream):
        self.stream, self.buf = stream, []

    def write(self, s):
        self.buf.append(s)
        return self.stream.write(s)

    def flush(self):
        self.stream.flush()


def one(model: str, ngl: int) -> dict:
    import numpy as np
    import llama_cpp

    # LocalLLM loads with verbose=False; force verbose so llama.cpp's load log (the
    # "offloaded N/M layers to GPU" line) reaches stderr, and keep a copy of it.
    class VerboseLlama(llama_cpp.Llama):
        def __init__(self, *a, **k):
            k["verbose"] = True
            super().__init__(*a, **k)

    llama_cpp.Llama = VerboseLlama
    from rag.config import Settings
    from rag.generate import GenStats, LocalLLM

    tee = Tee(sys.stderr)
    sys.stderr = tee
    t0 = time.perf_counter()
    llm = LocalLLM(Settings(model_path=model, model_sha256="", n_gpu_layers=ngl))
    load_s = time.perf_counter() - t0
    sys.stderr = tee.stream
    log = "".join(tee.buf)
    offload = re.findall(r"offloaded \d+/\d+ layers to GPU", log)
    devices = sorted(set(re.findall(r"using device (\S+ \([^)]*\))", log)))
    buffers = re.findall(r"(\S+) model buffer size =\s*([\d.]+) MiB", log)

    # the app's own path: chat template -> tokens -> streamed completion
    messages = [{"role": "system", "content": "Answer from the sources."},
                {"role": "user", "content": "What is Gemma 4?"}]
    stats = GenStats()
    text = "".join(llm.stream(llm.render(messages), 16, stats))

    inner = llm.llm
    n_vocab = inner.n_vocab()

    def argmax_last() -> int:
        ptr = llama_cpp.llama_get_logits_ith(inner.ctx, -1)
        return int(np.argmax(np.ctypeslib.as_array(ptr, shape=(n_vocab,))))

    rng = np.random.default_rng(1)
    prompt = [int(t) for t in rng.integers(1000, 100000, PROMPT_N)]
    best_p = best_d = None
    for _ in range(REPEATS):
        inner.reset()
        llama_cpp.llama_perf_context_reset(inner.ctx)
        t = time.perf_counter()
        inner.eval(prompt)
        p_wall = time.perf_counter() - t
        tok = argmax_last()
        t = time.perf_counter()
        for _ in range(DECODE_N):
            inner.eval([tok])
            tok = argmax_last()
        d_wall = time.perf_counter() - t
        perf = llama_cpp.llama_perf_context(inner.ctx)
        p = {"wall_tps": PROMPT_N / p_wall,
             "llama_tps": perf.n_p_eval / (perf.t_p_eval_ms / 1e3) if perf.t_p_eval_ms else None}
        d = {"wall_tps": DECODE_N / d_wall,
             "llama_tps": perf.n_eval / (perf.t_eval_ms / 1e3) if perf.t_eval_ms else None,
             "n_eval": perf.n_eval}
        if best_p is None or p["wall_tps"] > best_p["wall_tps"]:
            best_p = p
        if best_d is None or d["wall_tps"] > best_d["wall_tps"]:
            best_d = d
    return {"model": os.path.basename(model), "ngl_setting": ngl, "gpu_layers_used": llm.gpu_layers,
            "supports_gpu_offload": bool(llama_cpp.llama_supports_gpu_offload()),
            "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
            "n_threads": llm.settings.n_threads, "load_s": round(load_s, 2), "offload_log": offload,
            "devices_log": devices, "model_buffers_mib": buffers, "stream_tokens": stats.completion_tokens, "stream_text": text[:60],
            "prompt_n": PROMPT_N, "prompt": best_p, "decode_n": DECODE_N, "decode": best_d}


def run_all(models: list[str]) -> list[dict]:
    results = []
    configs = [("gpu", -1, None), ("ngl0", 0, None), ("cpu", 0, "")]
    for model in models:
        for label, ngl, cvd in configs:
            env = dict(os.environ)
            if cvd is not None:
                env["CUDA_VISIBLE_DEVICES"] = cvd
            t = time.perf_counter()
            proc = subprocess.run([sys.executable, __file__, "one", model, str(ngl)], env=env,
                                  capture_output=True, text=True, timeout=300)
            sys.stderr.write(f"===== {os.path.basename(model)} {label}\n" + proc.stderr)
            line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
            if proc.returncode or not line:
                r = {"model": os.path.basename(model), "config": label, "error": proc.returncode,
                     "stderr_tail": proc.stderr[-1500:]}
            else:
                r = json.loads(line[-1][7:])
                r["config"] = label
            r["wall_s"] = round(time.perf_counter() - t, 1)
            print("RESULT " + json.dumps(r), flush=True)
            results.append(r)
    print("\nSUMMARY (synthetic random-weight models)")
    print(f"{'model':28} {'config':5} {'layers':>9} {'prompt tok/s':>13} {'decode tok/s':>13}  offload")
    for r in results:
        if "error" in r:
            print(f"{r['model']:28} {r['config']:5} ERROR {r['error']}")
            continue
        print(f"{r['model']:28} {r['config']:5} {r['gpu_layers_used']:>9} "
              f"{r['prompt']['llama_tps'] or 0:13.1f} {r['decode']['llama_tps'] or 0:13.1f}  "
              f"{'; '.join(r['offload_log']) or '-'}")
    return results


if __name__ == "__main__":
    if sys.argv[1] == "one":
        print("RESULT " + json.dumps(one(sys.argv[2], int(sys.argv[3]))), flush=True)
    else:
        res = run_all(sys.argv[2:])
        sys.exit(1 if any("error" in r for r in res) else 0)
