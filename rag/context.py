"""Context layout and budget: what the model is given for a question, for one index version.
`full`: every chunk, numbered, in one fixed system prompt whose KV state is cached; `chunks`:
the retrieved chunks as pieces whose stored KV is placed (rag/kvcache.py); `retrieval`: the
retrieved chunks in the user turn. Auto picks `full` while the corpus fits
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
from .text import MARKER
from .types import Hit

HISTORY_TURNS = 2


@dataclass
class Context:
    layout: str
    messages: list[dict]
    numbering: dict[int, int]             # model number -> chunk position in the index
    given: list[int]                      # chunk positions given to the model, best first
    trimmed: int = 0
    pieces: list[str] = field(default_factory=list)   # `chunks` layout: passages placed from stored KV


def full_prompt_of(data: IndexData) -> tuple[str, dict[int, int]]:
    """Every chunk, numbered in index order, as one fixed system prompt."""
    numbered = [P.Numbered(i + 1, c) for i, c in enumerate(data.chunks)]
    return P.full_system_prompt(numbered, data.documents), {i + 1: i for i in range(len(data.chunks))}


def chunk_kv_dir(settings: Settings) -> Path:
    """Stored per-chunk KV, shared by index versions (keys are content hashes)."""
    return Path(settings.index_dir) / "chunk-kv"


def chunks_head(llm) -> str:
    """The rendered start of the `chunks` layout's system turn, up to the first piece."""
    sentinel = "\x00PASSAGES\x00"
    rendered = llm.render([{"role": "system", "content": P.chunks_head() + sentinel}], generation_prompt=False)
    return rendered.split(sentinel)[0]


class ContextLayout:
    """The layouts of one index version. `llm` is called when a token count is needed (the
    model is loaded lazily); the full prompt and its token count are computed once."""

    def __init__(self, data: IndexData, settings: Settings, llm: Callable[[], ChatModel],
                 full: tuple[str, dict[int, int]] | None = None, full_tokens: int | None = None):
        self.data, self.settings, self._llm = data, settings, llm
        self._full = full
        self.full_tokens = full_tokens        # the full prompt's tokens (None: count when needed)

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

    def build(self, question: str, language: str, hits: list[Hit], history: list,
              evidence: tuple[int, str] | None = None) -> Context:
        """`evidence` (chunk position, sentence): quote that sentence in the question turn."""
        positions = [self.data.position(h.chunk_id) for h in hits]
        if evidence and evidence[0] not in positions:
            positions = [evidence[0], *positions]
        layout = self.layout()
        if layout == "full":
            system, numbering = self.full_prompt()
            hint = [p + 1 for p in positions[:self._hinted(language)]]
            quoted = (evidence[0] + 1, evidence[1]) if evidence else None
            messages = [{"role": "system", "content": system}, *self._history_messages(history),
                        {"role": "user", "content": P.user_turn(question, language, hint=hint, evidence=quoted)}]
            if self._fits(messages):
                return Context("full", messages, numbering, list(range(len(self.data.chunks))))
        if layout == "chunks":
            return self._chunks_context(question, language, positions, history, evidence)
        return self._retrieval_context(question, language, positions, history, evidence)

    def _hinted(self, language: str) -> int:
        return self.settings.hint_passages if language != "en" or self.settings.hint_english else 0

    def _chunks_context(self, question, language, positions, history, evidence=None) -> Context:
        """Top-k chunks as stored-KV pieces in the system prompt, in index order (numbered by
        index position, so a piece's text, and its KV, never depends on the question); the
        lowest-ranked go first when over budget."""
        keep = list(positions)
        trimmed = 0
        while True:
            given = sorted(keep)
            pieces = self.chunk_pieces(given)
            messages = [{"role": "system", "content": P.chunks_head() + "".join(pieces)},
                        *self._history_messages(history),
                        {"role": "user", "content": P.user_turn(
                            question, language, hint=[p + 1 for p in keep[:self._hinted(language)]],
                            evidence=(evidence[0] + 1, evidence[1]) if evidence and evidence[0] in keep else None)}]
            if self._fits(messages) or not keep:
                return Context("chunks", messages, {p + 1: p for p in given}, keep, trimmed, pieces)
            if history:
                history = history[1:]
                continue
            keep = keep[:-1]
            trimmed += 1

    def _retrieval_context(self, question, language, positions, history, evidence=None) -> Context:
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
                            else None)}]
            if self._fits(messages) or not keep:
                return Context("retrieval", messages, numbering, keep, trimmed)
            if history:
                history = history[1:]
                continue
            keep = keep[:-1]
            trimmed += 1

    def _fits(self, messages: list[dict]) -> bool:
        # The full-corpus system prompt was counted once by layout(); count only the rest.
        full = self._full is not None and self.full_tokens is not None and messages[0]["content"] == self._full[0]
        head = self.full_tokens if full else 0
        text = "\n".join(m["content"] for m in (messages[1:] if full else messages))
        return head + self._llm().count_tokens(text) + self.settings.max_tokens + 64 <= self.settings.n_ctx

    @staticmethod
    def _history_messages(history: list) -> list[dict]:
        out = []
        for turn in history[-HISTORY_TURNS:]:
            out.append({"role": "user", "content": turn.question})
            out.append({"role": "assistant", "content": MARKER.sub("", turn.answer).strip()})
        return out
