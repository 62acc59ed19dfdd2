"""Generation. `LocalLLM` runs llama.cpp in process: one model instance behind a lock, the
chat template taken from the GGUF, and a fixed prompt prefix whose KV state is computed
once, saved beside the index and loaded at start, so a question only pays for its own
turn. `RemoteLLM` streams from any OpenAI-compatible server instead (RAG_LLM_URL). Both
implement `rag.llm.ChatModel`. Over 300 lines because `LocalLLM` is one piece of state (the
model, its lock, the prefix its KV cache holds, its stop tokens) that every method reads."""
from __future__ import annotations

import codecs
import contextlib
import ctypes
import hashlib
import json
import os
import threading
import time
from pathlib import Path
from typing import Callable, Iterator

from .config import Settings
from .errors import ModelError
from .llm import GenStats, Placement


# ggml type ids for the KV cache's keys (values stay f16: quantized values need flash attention)
CACHE_TYPES = {"f32": 0, "f16": 1, "q4_0": 2, "q8_0": 8}


def prefix_state_key(prefix: str, **ident) -> str:
    """Names the saved KV state: any change to the prompt text (so to the corpus, its
    chunking or the instructions), the model, the context size, llama.cpp or the GPU
    offload gives another key, and the stale state is never loaded."""
    ident = dict(ident, prefix=hashlib.sha256(prefix.encode()).hexdigest())
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:20]


@contextlib.contextmanager
def _two_sequences(llama_cpp):
    """Llama() takes no n_seq_max: create its context with a second, scratch sequence in
    one unified KV cache, where rag/kvcache.py loads a chunk's stored cells before shifting
    them into the conversation (sequence 0)."""
    module = llama_cpp.llama_cpp
    original = module.llama_context_default_params

    def params():
        p = original()
        p.n_seq_max = 2
        p.kv_unified = True
        return p
    module.llama_context_default_params = params
    try:
        yield
    finally:
        module.llama_context_default_params = original


class LocalLLM:
    """llama.cpp in process (a `rag.llm.ChatModel` that caches a prompt prefix)."""
    caches_prefix = True

    def __init__(self, settings: Settings):
        from .setup.models import verify_model
        path = verify_model(settings)
        os.environ.setdefault("GGML_LOG_LEVEL", "error")
        try:
            import llama_cpp
            from llama_cpp import Llama
        except ImportError as e:
            raise ModelError(f"llama-cpp-python is not installed ({e}); run `make setup`") from None
        gpu_layers = settings.n_gpu_layers if llama_cpp.llama_supports_gpu_offload() else 0
        cache_type_k = settings.cache_type_k.lower()
        if cache_type_k == "auto":
            cache_type_k = "f16" if gpu_layers else "q8_0"
        type_k = CACHE_TYPES.get(cache_type_k)
        if type_k is None:
            raise ModelError(f"RAG_CACHE_TYPE_K={settings.cache_type_k!r} is not one of auto, {', '.join(CACHE_TYPES)}")
        self.cache_type_k = cache_type_k
        try:
            with _two_sequences(llama_cpp):
                self.llm = Llama(model_path=str(path), n_ctx=settings.n_ctx, n_threads=settings.n_threads,
                                 n_threads_batch=settings.n_threads, n_batch=512, n_gpu_layers=gpu_layers,
                                 flash_attn=settings.flash_attn, type_k=type_k, verbose=False)
        except (ValueError, RuntimeError) as e:
            raise ModelError(f"llama.cpp could not load {path.name} ({e}); check RAG_MODEL_PATH") from None
        self.settings = settings
        self.gpu_layers = gpu_layers
        self.name = path.stem
        # A plain Lock, not an RLock: a streaming generator may be resumed, and closed, from
        # other threads than the one that took it (Gradio's workers), and only a Lock can be
        # released from any thread. Code already under it uses the `_held` variants.
        self.lock = threading.Lock()
        self.n_ctx = settings.n_ctx
        self._prefix_tokens: list[int] = []
        self._prefix_text = ""            # the text of _prefix_tokens
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter
        template = self.llm.metadata.get("tokenizer.chat_template")
        if not template:
            raise ModelError(f"{path.name} carries no chat template; use an instruct GGUF")
        eos = self._token_text(self.llm.token_eos())
        bos = self._token_text(self.llm.token_bos()) if self.llm.token_bos() >= 0 else ""
        self._formatter = Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos)
        self.stop_ids = {self.llm.token_eos()}
        for text in ("<|im_end|>", "<|endoftext|>", "<end_of_turn>", "<|eot_id|>"):
            ids = self.llm.tokenize(text.encode(), add_bos=False, special=True)
            if len(ids) == 1:
                self.stop_ids.add(ids[0])

    @property
    def prefix_tokens(self) -> list[int]:
        """The tokens of the prefix the KV cache holds now (empty when none is known)."""
        return self._prefix_tokens

    def forget_prefix(self) -> None:
        """Say the KV cache no longer holds the saved prefix (something else was read into it)."""
        self._prefix_tokens, self._prefix_text = [], ""

    def _token_text(self, token: int) -> str:
        return self.llm.detokenize([token], special=True).decode("utf-8", "ignore")

    # --- prompts -------------------------------------------------------------------

    def render(self, messages: list[dict], generation_prompt: bool = True) -> str:
        self._formatter.add_generation_prompt = generation_prompt
        return self._formatter(messages=messages).prompt

    def tokenize(self, text: str) -> list[int]:
        return self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)

    def count_tokens(self, text: str) -> int:
        return len(self.tokenize(text))

    def system_prefix(self, system: str) -> str:
        """The part of the rendered prompt whose KV state is saved: the system turn."""
        return self.split_prefix([{"role": "system", "content": system}, {"role": "user", "content": "?"}])[0]

    def split_prefix(self, messages: list[dict]) -> tuple[str, str]:
        """The rendered prompt as (system part, rest): the system part is the cacheable
        prefix when the template renders it first and unchanged."""
        full = self.render(messages)
        system_only = self.render(messages[:1], generation_prompt=False)
        if full.startswith(system_only):
            return system_only, full[len(system_only):]
        return "", full

    # --- the cached prefix -----------------------------------------------------------

    def prefix_key(self, prefix: str) -> str:
        import llama_cpp
        return prefix_state_key(prefix, model=self.name, model_size=Path(self.settings.model_path).stat().st_size,
                                n_ctx=self.n_ctx, llama_cpp_version=llama_cpp.__version__, gpu_layers=self.gpu_layers,
                                flash_attn=self.settings.flash_attn, cache_type_k=self.cache_type_k,
                                n_seq_max=2)

    def state_file(self, prefix: str, state_dir: Path) -> Path:
        """Where the KV state of `prefix` is saved for an index version."""
        return Path(state_dir) / f"prefix-{self.prefix_key(prefix)}.state"

    def warm_prefix(self, system: str, state_dir: Path | None) -> str:
        return self.ensure_prefix(self.system_prefix(system), state_dir)

    def ensure_prefix(self, prefix: str, state_dir: Path | None) -> str:
        """Make `prefix` the evaluated start of the context: load its saved KV state when
        the key matches, else evaluate it once and save it. Returns how."""
        with self.lock:
            return self.ensure_prefix_held(prefix, state_dir)

    def ensure_prefix_held(self, prefix: str, state_dir: Path | None) -> str:
        """`ensure_prefix` for a caller that already holds `lock`."""
        tokens = self.tokenize(prefix)
        if self._prefix_tokens == tokens and self.llm.n_tokens >= len(tokens):
            return "warm"
        path = self.state_file(prefix, state_dir) if state_dir else None
        if path is not None and path.exists() and self._load_state(path, tokens):
            self._prefix_tokens, self._prefix_text = tokens, prefix
            return "loaded"
        start = self._reusable_start(tokens, state_dir, path)
        if start == 0:
            self.llm.reset()
        self.llm.n_tokens = start          # eval() drops any cells from here on
        self.llm.eval(tokens[start:])
        self._prefix_tokens, self._prefix_text = tokens, prefix
        if path is not None:
            self._save_state(path, tokens)
        if start:
            return f"computed ({len(tokens) - start} of {len(tokens)} tokens read; the rest kept from the previous corpus)"
        return "computed"

    def _reusable_start(self, tokens: list[int], state_dir: Path | None, path: Path | None) -> int:
        """How many leading tokens of a new prefix already have their KV: those it shares with
        the prefix in memory, or with a previous version's saved state that the store carried
        into `state_dir` as a seed (kept one short of the end, so the last token is read).
        Documents keep their order in the corpus prompt and new
        ones come last, so after an ingest only the new document is read. Cells are reused only
        for tokens that match one by one, and causal attention makes them exactly what reading
        the new prefix from the start would give; the rest is dropped and read."""
        if self._prefix_tokens and self.llm.n_tokens >= len(self._prefix_tokens):
            shared = min(_leading_match(self._prefix_tokens, tokens), len(tokens) - 1)
            if shared > 0:
                return shared
        seeds = sorted(Path(state_dir).glob("prefix-*.state"), key=lambda p: p.stat().st_mtime, reverse=True) \
            if state_dir else []
        for seed in seeds[:2]:
            if seed != path:
                shared = self._load_seed(seed, tokens)
                if shared:
                    return shared
        return 0

    def _load_seed(self, path: Path, tokens: list[int]) -> int:
        """Load a saved state and return how many of its leading tokens `tokens` shares (0: none,
        and the context is reset)."""
        saved = self._read_state(path)
        shared = min(_leading_match(saved, tokens), len(tokens) - 1) if saved else 0
        if shared <= 0:
            self.llm.reset()
            return 0
        return shared

    def _save_state(self, path: Path, tokens: list[int]) -> None:
        import llama_cpp
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + f".tmp{os.getpid()}")
        array = (llama_cpp.llama_token * len(tokens))(*tokens)
        if llama_cpp.llama_state_save_file(self.llm.ctx, str(tmp).encode(), array, len(tokens)):
            os.replace(tmp, path)
            for old in path.parent.glob("prefix-*.state"):
                if old != path:
                    old.unlink(missing_ok=True)
        else:
            tmp.unlink(missing_ok=True)

    def _load_state(self, path: Path, tokens: list[int]) -> bool:
        if self._read_state(path) == tokens:
            return True
        self.llm.reset()
        return False

    def _read_state(self, path: Path) -> list[int] | None:
        """Load a saved state into the context; its tokens, or None (context reset) when it
        does not load."""
        import llama_cpp
        out = (llama_cpp.llama_token * self.n_ctx)()
        count = ctypes.c_size_t(0)
        try:
            ok = llama_cpp.llama_state_load_file(self.llm.ctx, str(path).encode(), out, self.n_ctx, ctypes.byref(count))
        except OSError:
            ok = False
        if not ok:
            self.llm.reset()
            return None
        saved = list(out[:count.value])
        self.llm.input_ids[:count.value] = saved
        self.llm.n_tokens = count.value
        return saved

    # --- streaming -------------------------------------------------------------------

    def stream_messages(self, messages: list[dict], max_tokens: int, stats: GenStats,
                        placement: Placement | None = None) -> Iterator[str]:
        """The rendered messages, read after the saved prefix's KV when the prompt starts with
        it, or (given a `placement`) after the stored chunk KV it puts in place."""
        if placement is not None:
            rendered = self.render(messages)
            if rendered.startswith(placement.text):
                return self.stream(rendered[len(placement.text):], max_tokens, stats, placed=placement.place)
            return self.stream(rendered, max_tokens, stats)
        prefix, rest = self.split_prefix(messages)
        return self.stream(prefix + rest, max_tokens, stats, prefix=prefix)

    def stream_contrast(self, messages: list[dict], plain_messages: list[dict], alpha: float, max_tokens: int,
                        stats: GenStats) -> Iterator[str]:
        """`stream_messages` with context-aware decoding against `plain_messages` (the same turn
        without the documents), ContrastDecoder; plain decoding when sampling is not greedy or
        both readings do not fit the context."""
        prefix, rest = self.split_prefix(messages)
        tokens = self.prompt_prefix_tokens(prefix) + self.tokenize(rest)
        plain = self.tokenize(self.render(plain_messages))
        self._check_fits(tokens, max_tokens)
        if self.settings.temperature > 0 or len(tokens) + len(plain) + 2 * max_tokens + 2 > self.n_ctx:
            return self.stream(prefix + rest, max_tokens, stats, prefix=prefix)
        return ContrastDecoder(self, alpha).stream(tokens, plain, max_tokens, stats)

    def stream(self, prompt: str, max_tokens: int, stats: GenStats, prefix: str = "",
               placed: Callable[[], list[int]] | None = None) -> Iterator[str]:
        """Yield text pieces of the completion of `prompt` (already chat-rendered).
        `placed`, when given, puts the start of the context in place (stored chunk KV,
        rag/kvcache.py) under the model lock and returns its tokens; `prompt` follows it."""
        if placed is None:
            if prefix and prompt.startswith(prefix):
                tokens = self.prompt_prefix_tokens(prefix) + self.tokenize(prompt[len(prefix):])
            else:
                tokens = self.tokenize(prompt)
            self._check_fits(tokens, max_tokens)
        with self.lock:
            if placed is not None:
                tokens = placed() + self.tokenize(prompt)
                self._check_fits(tokens, max_tokens)
            stats.prompt_tokens = len(tokens)
            stats.cached_tokens = self._common_prefix(tokens)
            yield from self._pieces(self.llm.generate(tokens, **self.sampling(), reset=True), max_tokens, stats)

    def _pieces(self, generated: Iterator[int], max_tokens: int, stats: GenStats) -> Iterator[str]:
        """Text pieces of `generated` tokens (read lazily, so the prompt is read on the first),
        with the stop rules and timings every decoder here shares. The caller holds the lock."""
        started = time.perf_counter()
        decoder = codecs.getincrementaldecoder("utf-8")(errors="ignore")
        try:
            for token in generated:
                if token in self.stop_ids or self.llm.n_tokens >= self.n_ctx - 1:
                    break
                stats.completion_tokens += 1
                stats.last_token_s = time.perf_counter() - started
                if stats.ttft_s is None:
                    stats.ttft_s = stats.last_token_s
                piece = decoder.decode(self.llm.detokenize([token]))
                if piece:
                    yield piece
                if stats.completion_tokens >= max_tokens:
                    break
        finally:
            close = getattr(generated, "close", None)
            if close is not None:
                close()
            stats.generate_s = time.perf_counter() - started
        tail = decoder.decode(b"", final=True)
        if tail:
            yield tail

    def _check_fits(self, tokens: list[int], max_tokens: int) -> None:
        if len(tokens) + max_tokens > self.n_ctx:
            raise ModelError(f"the prompt needs {len(tokens)} tokens plus {max_tokens} for the answer, over the "
                             f"{self.n_ctx}-token context; ask a shorter question")

    def sampling(self) -> dict:
        """Sampling settings, shared with `rag bench`'s raw baseline so the speed ratio
        compares like with like. No repeat penalty: it also penalises the question's own
        words and the figures the answer must copy (fact accuracy 0.73 -> 0.77 without it,
        docs/EVAL.md); max_tokens bounds a loop."""
        return {"temp": self.settings.temperature, "top_k": 40, "top_p": 0.95, "min_p": 0.05,
                "repeat_penalty": self.settings.repeat_penalty}

    def prompt_prefix_tokens(self, prefix: str) -> list[int]:
        """The tokens a prompt starting with `prefix` begins with: the cached prefix's tokens
        when `prefix` is that prefix (the corpus is not tokenized again), else `prefix`
        tokenized. (Until 2026-12-06 the cached tokens were used for any prefix, so a prompt
        with another system turn, such as the retrieval layout's, was read after the cached
        corpus instead of after its own system turn.)"""
        if self._prefix_tokens and prefix == self._prefix_text:
            return self._prefix_tokens
        return self.tokenize(prefix)

    def _common_prefix(self, tokens: list[int]) -> int:
        return _leading_match(self.llm.input_ids[: self.llm.n_tokens], tokens)


class RemoteLLM:
    """Any OpenAI-compatible /v1/chat/completions server (llama.cpp server, vLLM ...): a
    `rag.llm.ChatModel` that caches nothing on this side."""
    caches_prefix = False

    def __init__(self, settings: Settings):
        self.settings = settings
        self.url = settings.llm_url.rstrip("/")
        if not self.url.endswith("/v1"):
            self.url += "/v1"
        self.name = settings.llm_model or "remote"
        self.n_ctx = settings.n_ctx
        self.lock = threading.Lock()

    def count_tokens(self, text: str) -> int:
        return max(1, int(len(text.encode("utf-8")) / 2.5))     # a safe overestimate for CJK

    def warm_prefix(self, system: str, state_dir: Path | None) -> str:
        return "not needed"

    def stream_messages(self, messages: list[dict], max_tokens: int, stats: GenStats,
                        placement: Placement | None = None) -> Iterator[str]:
        import httpx
        body = {"model": self.name, "messages": messages, "max_tokens": max_tokens, "stream": True,
                "temperature": self.settings.temperature}
        headers = {"Authorization": f"Bearer {self.settings.llm_api_key}"} if self.settings.llm_api_key else {}
        started = time.perf_counter()
        try:
            with httpx.stream("POST", self.url + "/chat/completions", json=body, headers=headers,
                              timeout=httpx.Timeout(120.0, connect=5.0)) as response:
                if response.status_code != 200:
                    response.read()
                    raise ModelError(f"the model server at {self.url} answered {response.status_code}: "
                                     f"{response.text[:200]}")
                for line in response.iter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        break
                    try:
                        delta = json.loads(data)["choices"][0].get("delta", {}).get("content") or ""
                    except (ValueError, KeyError, IndexError):
                        continue
                    if delta:
                        stats.completion_tokens += 1
                        stats.last_token_s = time.perf_counter() - started
                        if stats.ttft_s is None:
                            stats.ttft_s = stats.last_token_s
                        yield delta
        except httpx.HTTPError as e:
            raise ModelError(f"cannot reach the model server at {self.url} ({type(e).__name__}); "
                             "check RAG_LLM_URL or unset it to use the local model") from None
        finally:
            stats.generate_s = time.perf_counter() - started


def _leading_match(a, b) -> int:
    """How many leading tokens two sequences share."""
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


class ContrastDecoder:
    """Context-aware decoding (Shi et al. 2023) in one llama.cpp batch: sequence 0 reads the
    prompt with the documents, sequence 1 the same turn without them, and each greedy step takes
    argmax (1 + a) * l_docs - a * l_plain over the tokens the documents' reading finds plausible
    (p >= beta * p_max), so the answer leans on what the documents say over what the model
    would say anyway. The first token comes from sequence 0 alone (the time to first token
    is unchanged); sequence 1's turn is read in the same batch as the second step. Greedy only."""

    def __init__(self, llm: "LocalLLM", alpha: float, beta: float = 0.1):
        import llama_cpp
        import numpy as np
        self.C, self.np, self.llm = llama_cpp, np, llm
        self.alpha, self.log_beta = alpha, float(np.log(beta))

    def stream(self, tokens: list[int], plain: list[int], max_tokens: int, stats: GenStats) -> Iterator[str]:
        outer = self.llm
        with outer.lock:
            stats.prompt_tokens = len(tokens)
            common = min(outer._common_prefix(tokens), len(tokens) - 1)
            stats.cached_tokens = common
            yield from outer._pieces(self._tokens(tokens, plain, common), max_tokens, stats)

    def _tokens(self, tokens: list[int], plain: list[int], common: int) -> Iterator[int]:
        """The chosen tokens, one step at a time; closing this ends the contrast and empties
        sequence 1."""
        C, np, outer = self.C, self.np, self.llm
        inner = outer.llm
        ctx = inner.ctx
        mem = C.llama_get_memory(ctx)
        n_vocab = inner.n_vocab()
        batch = C.llama_batch_init(max(len(plain) + 2, 8), 0, 2)

        def logits(i: int):
            return np.ctypeslib.as_array(C.llama_get_logits_ith(ctx, i), shape=(n_vocab,))

        def decode(entries: list[tuple[int, int, int, bool]]) -> None:
            for j, (token, pos, seq, want) in enumerate(entries):
                batch.token[j], batch.pos[j], batch.n_seq_id[j] = token, pos, 1
                batch.seq_id[j][0], batch.logits[j] = seq, want
            batch.n_tokens = len(entries)
            if C.llama_decode(ctx, batch) != 0:
                raise ModelError("llama.cpp could not decode a contrastive step")

        try:
            C.llama_memory_seq_rm(mem, 1, -1, -1)
            inner.n_tokens = common
            inner.eval(tokens[common:])
            token = int(np.argmax(logits(-1)))
            pos0, pos1, first = len(tokens), 0, True
            while True:
                yield token
                # the token joins both readings; sequence 1 reads its own turn first
                entries = [(token, pos0, 0, True)]
                if first:
                    entries += [(t, i, 1, False) for i, t in enumerate(plain)]
                    pos1, first = len(plain), False
                entries.append((token, pos1, 1, True))
                decode(entries)
                inner.input_ids[pos0] = token
                pos0 += 1
                inner.n_tokens = pos0
                pos1 += 1
                with_docs, without = logits(0), logits(len(entries) - 1)
                plausible = with_docs >= with_docs.max() + self.log_beta
                scores = np.where(plausible, (1 + self.alpha) * with_docs - self.alpha * without, -np.inf)
                token = int(np.argmax(scores))
        finally:
            C.llama_memory_seq_rm(mem, 1, -1, -1)
            C.llama_batch_free(batch)
