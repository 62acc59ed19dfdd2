"""Context layout and budget: what the model is given for a question, for one index version.
`full`: every chunk, numbered, in one fixed system prompt whose KV state is cached; `chunks`:
the leading documents that fit a budget whole in a cached prefix (the base), then the retrieved
chunks of later documents as pieces whose stored KV is placed (rag/kvcache.py); `retrieval`:
the retrieved chunks in the user turn. Auto picks `full` while the corpus fits
RAG_FULL_CONTEXT_MAX_TOKENS. Every layout is cut to fit the context: older history first, then
the lowest-ranked chunks. Hands on a `Context` (the messages and how passages are numbered)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from . import prompt as P
from .config import Settings
from .llm import ChatModel
from .store import IndexData
from .text import MARKER, detect_language
from .types import Hit

HISTORY_TURNS = 2
PIECES_ROOM = 1024          # `chunks` layout: context kept beside the base for the pieces and the turn


@dataclass
class Context:
    layout: str
    messages: list[dict]
    numbering: dict[int, int]             # model number -> chunk position in the index
    given: list[int]                      # chunk positions given to the model, best first
    trimmed: int = 0
    pieces: list[str] = field(default_factory=list)   # `chunks` layout: passages placed from stored KV
    base: str = ""                        # `chunks` layout: the system text before the pieces ("": the fixed head)

    def number_of(self, position: int) -> int | None:
        """The model's number for the chunk at `position` (None when it was not given)."""
        return next((n for n, p in self.numbering.items() if p == position), None)


def full_prompt_of(data: IndexData, end: int | None = None) -> tuple[str, dict[int, int]]:
    """Every chunk (or the first `end`), numbered in index order, as one fixed system prompt."""
    chunks = data.chunks if end is None else data.chunks[:end]
    numbered = [P.Numbered(i + 1, c) for i, c in enumerate(chunks)]
    return P.full_system_prompt(numbered, data.documents), {i + 1: i for i in range(len(chunks))}


def chunk_kv_dir(settings: Settings) -> Path:
    """Stored per-chunk KV, shared by index versions (keys are content hashes)."""
    return Path(settings.index_dir) / "chunk-kv"


def chunks_head(llm) -> str:
    """The rendered start of the `chunks` layout's system turn, up to the first piece."""
    return rendered_start(llm, P.chunks_head())


def rendered_start(llm, system_start: str) -> str:
    """The chat-rendered system turn that begins with `system_start`, cut where it ends."""
    sentinel = "\x00PASSAGES\x00"
    rendered = llm.render([{"role": "system", "content": system_start + sentinel}], generation_prompt=False)
    return rendered.split(sentinel)[0]


def document_ends(data: IndexData) -> list[int]:
    """The chunk position after each document's last chunk, in index order (a document's
    chunks are consecutive)."""
    ends = [i + 1 for i in range(len(data.chunks) - 1) if data.chunks[i].doc_id != data.chunks[i + 1].doc_id]
    return ends + [len(data.chunks)] if data.chunks else []


class ContextLayout:
    """The layouts of one index version. `llm` is called when a token count is needed (the
    model is loaded lazily); the full prompt and its token count are computed once."""

    def __init__(self, data: IndexData, settings: Settings, llm: Callable[[], ChatModel],
                 full: tuple[str, dict[int, int]] | None = None, full_tokens: int | None = None):
        self.data, self.settings, self._llm = data, settings, llm
        self._full = full
        self.full_tokens = full_tokens        # the full prompt's tokens (None: count when needed)
        self._base: tuple[int, str, int] | None = None     # (end, system text, its tokens)
        self._rendered: tuple[str, str] | None = None       # (base text, its rendered start)

    def full_prompt(self) -> tuple[str, dict[int, int]]:
        if self._full is None:
            self._full = full_prompt_of(self.data)
        return self._full

    def layout(self) -> str:
        mode, llm = self.settings.context_mode, self._llm()
        if mode == "chunks" and not llm.caches_prefix:
            return "retrieval"            # a model server holds no stored chunk KV
        if mode in ("full", "retrieval", "chunks"):
            return mode
        if self.full_tokens is None:
            self.full_tokens = llm.count_tokens(self.full_prompt()[0])
        if self.full_tokens <= self.settings.full_context_max_tokens:
            return "full"
        return self.settings.beyond_full if llm.caches_prefix else "retrieval"

    def chunk_pieces(self, positions: list[int]) -> list[str]:
        return [P.passage_piece(p + 1, self.data.chunks[p], self.data.documents) for p in positions]

    def base_end(self) -> int:
        """`chunks` layout: how many leading chunks form the base, the documents (in corpus
        order) whose passages fit RAG_CHUNKS_BASE_TOKENS as one system prompt. The base is read
        as one cached prefix, each passage seeing the ones before it, as in the full layout;
        only the chunks after it are placed from stored KV. Documents keep their order and new
        ones come last, so the base is the corpus as it was before it outgrew the budget."""
        return self._base_parts()[0]

    def _base_parts(self) -> tuple[int, str, int]:
        """(base_end, the base's system text, its tokens), found once per index version: the
        base is read for every question, so it is neither rebuilt nor counted again."""
        if self._base is None:
            self._base = (0, "", 0)
            s = self.settings
            budget = min(s.chunks_base_tokens, s.n_ctx - s.max_tokens - 64 - PIECES_ROOM)
            for end in document_ends(self.data) if budget > 0 else []:
                text = full_prompt_of(self.data, end)[0]
                tokens = self._llm().count_tokens(text)
                if tokens > budget:
                    break
                self._base = (end, text, tokens)
        return self._base

    def base_start(self, llm) -> tuple[str, Path] | None:
        """The base's rendered system turn up to the pieces, and the folder its KV state is
        saved in (the index version's); None when there is no base."""
        end, text, _ = self._base_parts()
        if not end:
            return None
        if self._rendered is None or self._rendered[0] != text:
            self._rendered = (text, rendered_start(llm, text))
        return self._rendered[1], Path(self.data.path)

    def stored_pieces(self) -> list[str]:
        """The pieces whose KV the `chunks` layout stores: every chunk after the base."""
        return self.chunk_pieces(list(range(self.base_end(), len(self.data.chunks))))

    def build(self, question: str, language: str, hits: list[Hit], history: list,
              evidence: tuple[int, str] | None = None) -> Context:
        """`evidence` (chunk position, sentence): quote that sentence in the question turn."""
        positions = [self.data.position(h.chunk_id) for h in hits]
        if evidence and evidence[0] not in positions:
            positions = [evidence[0], *positions]
        across = self._across(language, positions)
        layout = self.layout()
        if layout == "full":
            system, numbering = self.full_prompt()
            hint = [p + 1 for p in positions[:self._hinted(language)]]
            quoted = (evidence[0] + 1, evidence[1]) if evidence else None
            messages = [{"role": "system", "content": system}, *self._history_messages(history),
                        {"role": "user", "content": P.user_turn(question, language, hint=hint, evidence=quoted,
                                                                    across=across)}]
            if self._fits(messages):
                return Context("full", messages, numbering, list(range(len(self.data.chunks))))
        if layout == "chunks":
            return self._chunks_context(question, language, positions, history, evidence, across)
        return self._retrieval_context(question, language, positions, history, evidence, across)

    def _across(self, language: str, positions: list[int]) -> bool:
        """The best passage is in another language than the question (an English clause for a Chinese question)."""
        if not positions:
            return False
        found = detect_language(self.data.chunks[positions[0]].text)
        return found != "und" and found.startswith("zh") != language.startswith("zh")

    def _hinted(self, language: str) -> int:
        return self.settings.hint_passages if language != "en" or self.settings.hint_english else 0

    def _chunks_context(self, question, language, positions, history, evidence=None, across=False) -> Context:
        """The base (when there is one), then the top-k chunks after it as stored-KV pieces in
        the system prompt, in index order (numbered by index position, so a piece's text, and
        its KV, never depends on the question); the lowest-ranked go first when over budget."""
        end, base, base_tokens = self._base_parts()
        keep = list(positions)
        trimmed = 0
        while True:
            placed = sorted(p for p in keep if p >= end)
            pieces = self.chunk_pieces(placed)
            messages = [{"role": "system", "content": (base or P.chunks_head()) + "".join(pieces)},
                        *self._history_messages(history),
                        {"role": "user", "content": P.user_turn(
                            question, language, hint=[p + 1 for p in keep[:self._hinted(language)]],
                            evidence=(evidence[0] + 1, evidence[1]) if evidence and evidence[0] in keep else None,
                            across=across)}]
            if self._fits(messages, (base, base_tokens) if end else None) or not keep:
                given = keep + [p for p in range(end) if p not in keep]
                numbering = {p + 1: p for p in sorted(given)}
                return Context("chunks", messages, numbering, given, trimmed, pieces, base)
            if history:
                history = history[1:]
                continue
            keep = keep[:-1]
            trimmed += 1

    def _retrieval_context(self, question, language, positions, history, evidence=None, across=False) -> Context:
        """Top-k chunks in the user turn; the lowest-ranked go first when over budget."""
        keep = list(positions)
        trimmed = 0
        while True:
            numbering = {n + 1: p for n, p in enumerate(keep)}
            numbered = [P.Numbered(n, self.data.chunks[p]) for n, p in numbering.items()]
            passages = P.passages_block(numbered, self.data.documents)
            messages = [{"role": "system", "content": P.retrieval_system_prompt()}, *self._history_messages(history),
                        {"role": "user", "content": P.user_turn(
                            question, language, passages=passages,
                            evidence=(keep.index(evidence[0]) + 1, evidence[1]) if evidence and evidence[0] in keep
                            else None, across=across)}]
            if self._fits(messages) or not keep:
                return Context("retrieval", messages, numbering, keep, trimmed)
            if history:
                history = history[1:]
                continue
            keep = keep[:-1]
            trimmed += 1

    def _fits(self, messages: list[dict], head: tuple[str, int] | None = None) -> bool:
        """Whether the messages and an answer fit the context. A system prompt counted once
        already (the full corpus, counted by layout(); `head`, the start of the system prompt
        and its tokens: the `chunks` layout's base) is not counted again; only the rest is."""
        if head is None and self._full is not None and self.full_tokens is not None:
            head = self._full[0], self.full_tokens
        system = messages[0]["content"]
        if head and system == head[0]:
            counted, rest = head[1], [m["content"] for m in messages[1:]]
        elif head and head[0] and system.startswith(head[0]):
            counted, rest = head[1], [system[len(head[0]):]] + [m["content"] for m in messages[1:]]
        else:
            counted, rest = 0, [m["content"] for m in messages]
        return counted + self._llm().count_tokens("\n".join(rest)) + self.settings.max_tokens + 64 <= self.settings.n_ctx

    @staticmethod
    def _history_messages(history: list) -> list[dict]:
        out = []
        for turn in history[-HISTORY_TURNS:]:
            out.append({"role": "user", "content": turn.question})
            out.append({"role": "assistant", "content": MARKER.sub("", turn.answer).strip()})
        return out


def prepare_chunks(layout: ContextLayout, kv, progress=None, prune: bool = False) -> str:
    """What the `chunks` layout needs before its first question: the stored KV of every
    chunk after the base (only the missing ones are read; `progress(done, total)`), then the
    base's state, loaded or read once and saved in the index version. `prune` deletes stored
    pieces no chunk needs any more. Says what it did."""
    pieces = layout.stored_pieces()
    computed = kv.prepare(pieces, progress)
    if prune:
        kv.prune(pieces)
    start = layout.base_start(kv.llm)
    done = [f"computed {computed} chunks"] if computed else []
    if start:
        saved = kv.llm.state_file(*start).exists()
        tokens = len(kv.place([], start=start))
        if not saved:
            done.append(f"computed the base ({tokens:,} tokens)")
    return "; ".join(done) or "loaded"
