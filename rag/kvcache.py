"""Per-chunk KV states: each chunk's passage text is read once (after the fixed rules
prefix), its KV cells saved under a content-hash key beside the index, and at question
time the retrieved chunks' cells are placed into the context at their new positions
(a RoPE shift, as llama.cpp's server cache reuse does), so a question reads only its own
turn whatever the corpus size. Hands `LocalLLM.stream` a context already holding the
prefix and the placed passages."""
from __future__ import annotations

import ctypes
import hashlib
import json
from pathlib import Path
from typing import Callable

from .errors import ModelError
from .files import atomic_write

MAGIC = b"RAGKV1\n"
SCRATCH_SEQ = 1          # cells are loaded here, shifted, then copied into sequence 0


def piece_key(text: str, ident: str) -> str:
    """The file name of a piece's KV: its exact text, the head it was read after and the
    model identity (model, llama.cpp, KV types ...). Any change gives another key, so a
    changed or removed chunk's cells are never placed."""
    return hashlib.sha256((ident + "\x00" + text).encode()).hexdigest()[:24]


class ChunkKV:
    """Computes, stores and places the KV cells of text pieces read after a fixed head.

    `llm` is a LocalLLM whose llama.cpp context has two sequences (n_seq_max=2, unified
    cache); sequence 0 holds the conversation, sequence 1 is scratch space."""

    def __init__(self, llm, cache_dir: Path, head: str):
        import llama_cpp
        self.C = llama_cpp
        self.llm = llm
        self.dir = Path(cache_dir)
        self.head = head
        self.head_tokens = llm.tokenize(head)
        self.ident = llm.prefix_key(head)
        self._tokens: dict[str, list[int]] = {}
        self._start: tuple[str, list[int]] | None = None      # the last base and its tokens

    @property
    def _mem(self):
        return self.C.llama_get_memory(self.llm.llm.ctx)

    def key(self, text: str) -> str:
        return piece_key(text, self.ident)

    def path(self, key: str) -> Path:
        return self.dir / f"{key}.kv"

    def has(self, text: str) -> bool:
        return self.path(self.key(text)).exists()

    # --- computing -------------------------------------------------------------------

    def _ensure_head(self, start: tuple[str, Path] | None = None) -> list[int]:
        """Sequence 0 starts with the head, or with `start` (a rendered base and the folder its
        state is saved in): loaded from its saved state or read once and saved, then kept
        while pieces come and go. Returns its tokens."""
        text, folder = start or (self.head, self.dir)
        tokens = self.head_tokens if start is None else self._start_tokens(text)
        inner = self.llm.llm
        n = len(tokens)
        if inner.n_tokens >= n and list(inner.input_ids[:n]) == tokens:
            return tokens
        Path(folder).mkdir(parents=True, exist_ok=True)
        self.llm.ensure_prefix_held(text, folder)
        self.llm.forget_prefix()
        return tokens

    def _start_tokens(self, text: str) -> list[int]:
        if self._start is None or self._start[0] != text:
            self._start = (text, self.llm.tokenize(text))
        return self._start[1]

    def prepare(self, texts: list[str], progress: Callable[[int, int], None] | None = None) -> int:
        """Compute and save the KV of every piece not stored yet. Returns how many were computed."""
        with self.llm.lock:
            return self._prepare_held(texts, progress)

    def _prepare_held(self, texts: list[str], progress: Callable[[int, int], None] | None = None) -> int:
        missing = [t for t in dict.fromkeys(texts) if not self.has(t)]
        if not missing:
            return 0
        self.dir.mkdir(parents=True, exist_ok=True)
        self._ensure_head()
        for i, text in enumerate(missing):
            self._compute(text)
            if progress:
                progress(i + 1, len(missing))
        return len(missing)

    def _compute(self, text: str) -> None:
        inner, C, h = self.llm.llm, self.C, len(self.head_tokens)
        tokens = self.llm.tokenize(text)
        C.llama_memory_seq_rm(self._mem, 0, h, -1)
        inner.n_tokens = h
        inner.eval(tokens)
        C.llama_memory_seq_cp(self._mem, 0, SCRATCH_SEQ, h, -1)
        size = C.llama_state_seq_get_size(inner.ctx, SCRATCH_SEQ)
        buf = (ctypes.c_uint8 * size)()
        written = C.llama_state_seq_get_data(inner.ctx, buf, size, SCRATCH_SEQ)
        C.llama_memory_seq_rm(self._mem, SCRATCH_SEQ, -1, -1)
        C.llama_memory_seq_rm(self._mem, 0, h, -1)
        inner.n_tokens = h
        if not written:
            raise RuntimeError("llama.cpp returned no state for a chunk")
        header = json.dumps({"tokens": tokens, "start": h}).encode()
        path = self.path(self.key(text))
        atomic_write(path, MAGIC + len(header).to_bytes(4, "little") + header, memoryview(buf)[:written])

    # --- placing ---------------------------------------------------------------------

    def _read(self, key: str) -> tuple[list[int], int, bytes]:
        data = self.path(key).read_bytes()
        if not data.startswith(MAGIC):
            raise ValueError("not a chunk KV file")
        n = int.from_bytes(data[len(MAGIC):len(MAGIC) + 4], "little")
        header = json.loads(data[len(MAGIC) + 4:len(MAGIC) + 4 + n])
        tokens, start, state = header["tokens"], header["start"], data[len(MAGIC) + 4 + n:]
        if not (isinstance(tokens, list) and tokens and isinstance(start, int) and state):
            raise ValueError("incomplete chunk KV file")
        return tokens, start, state

    def load(self, text: str) -> tuple[list[int], int, bytes]:
        """A piece's stored tokens, start and cells; a missing, cut or foreign file is
        (re)computed instead of failing the question."""
        key = self.key(text)
        try:
            return self._read(key)
        except (OSError, ValueError, KeyError, TypeError):
            self.path(key).unlink(missing_ok=True)
        self._prepare_held([text])                       # callers hold the model lock
        return self._read(key)

    def place(self, texts: list[str], held: bool = False, start: tuple[str, Path] | None = None) -> list[int]:
        """Make sequence 0 hold head + pieces (computing any piece not stored yet) and
        return those tokens; the caller then generates from them plus its own turn.
        `start` (rendered text, state folder) replaces the head: a base prefix that begins
        like it, cached whole, the pieces placed after it.
        Pieces already placed in the same order stay; the rest are loaded and shifted.
        `held`: the caller already holds the model lock (LocalLLM.stream does)."""
        if held:
            return self._place_held(texts, start)
        with self.llm.lock:
            return self._place_held(texts, start)

    def _place_held(self, texts: list[str], start: tuple[str, Path] | None = None) -> list[int]:
        keys = [self.key(t) for t in texts]
        inner, C = self.llm.llm, self.C
        # Read (or compute) every piece first: computing one clears what follows the head.
        loaded = [self.load(t) for t in texts]
        # Keep the pieces the context already holds in this order (the previous question's
        # passages, when retrieval finds the same ones); load the rest after them.
        tokens = list(self._ensure_head(start))
        keep = 0
        for k in keys:
            piece = self._tokens.get(k)
            end = len(tokens) + len(piece or ())
            if not piece or inner.n_tokens < end or list(inner.input_ids[len(tokens):end]) != piece:
                break
            tokens += piece
            keep += 1
        pos = len(tokens)
        C.llama_memory_seq_rm(self._mem, 0, pos, -1)
        inner.n_tokens = pos
        for k, (piece, start, state) in zip(keys[keep:], loaded[keep:]):
            buf = (ctypes.c_uint8 * len(state)).from_buffer_copy(state)
            if not C.llama_state_seq_set_data(inner.ctx, buf, len(state), SCRATCH_SEQ):
                C.llama_memory_seq_rm(self._mem, SCRATCH_SEQ, -1, -1)
                self.path(k).unlink(missing_ok=True)
                raise ModelError("a stored chunk KV state did not load into llama.cpp; it was deleted and "
                                 "is computed again on the next question")
            if pos != start:
                C.llama_memory_seq_add(self._mem, SCRATCH_SEQ, -1, -1, pos - start)
            C.llama_memory_seq_cp(self._mem, SCRATCH_SEQ, 0, -1, -1)
            C.llama_memory_seq_rm(self._mem, SCRATCH_SEQ, -1, -1)
            inner.input_ids[pos:pos + len(piece)] = piece
            pos += len(piece)
            tokens += piece
            self._tokens[k] = piece
        inner.n_tokens = pos
        self.llm.forget_prefix()
        return tokens

    # --- housekeeping ----------------------------------------------------------------

    def prune(self, texts: list[str]) -> int:
        """Delete stored pieces no current text needs (removed or changed chunks, old models)."""
        wanted = {self.key(t) for t in texts}
        gone = 0
        for p in self.dir.glob("*.kv"):
            if p.stem not in wanted:
                p.unlink(missing_ok=True)
                gone += 1
        return gone

    def disk_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.dir.glob("*.kv")) if self.dir.exists() else 0
