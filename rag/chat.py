"""One call that ties the stages, `Assistant.stream` (the CLI, the UI and the API all use it):
question -> language -> what to look up (followup) -> hybrid retrieval, refusing early when
nothing fits -> the context (context.py: cached full corpus, stored chunk KV or top-k chunks)
-> the model's stream, shaped as it is shown (shaping.py) -> the checked, cited `Answer`
(assemble.py), a date or amount held to its evidence sentence (repair.py). Newer index
versions are prepared and switched in between questions (versions.py)."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Generator, Iterator

from . import prompt as P
from . import store
from .assemble import Assembler, Question
from .config import Settings
from .context import Context, ContextLayout, chunk_kv_dir, chunks_head, prepare_chunks
from .errors import QuestionError
from .followup import resolve, standalone_question
from .llm import ChatModel, GenStats, Placement
from .repair import Repair
from .retrieve import Retriever
from .shaping import Shaper
from .text import detect_language
from .types import Answer, AnswerEvent, Hit, StreamEvent, TokenEvent
from .versions import VersionSwitch

__all__ = ["Assistant", "Turn", "standalone_question", "validate_question"]


@dataclass
class Turn:
    question: str
    answer: str
    standalone: str


def validate_question(question: str, settings: Settings) -> str:
    if question is None or not str(question).strip():
        raise QuestionError("the question is empty; type a question about the documents")
    question = str(question).strip()
    if len(question) > settings.max_question_chars:
        raise QuestionError(f"the question is {len(question):,} characters long; keep it under "
                            f"{settings.max_question_chars:,} (RAG_MAX_QUESTION_CHARS)")
    return question


class Assistant:
    def __init__(self, settings: Settings, llm: ChatModel | None = None, embedder=None):
        self.settings = settings
        if embedder is None:
            from .embed import Embedder
            embedder = Embedder(Path(settings.embedder_path), threads=settings.n_threads)
        self.embedder = embedder
        self._llm = llm
        self._llm_lock = threading.Lock()
        self._chunk_kv = None
        self.switch = VersionSwitch(self)
        self.data = store.load_index(Path(settings.index_dir), expect=store.index_expectations(settings))
        self.retriever = Retriever(self.data, embedder, settings)
        self.context = ContextLayout(self.data, settings, lambda: self.llm)

    # --- the model and the index version ------------------------------------------------

    @property
    def llm(self) -> ChatModel:
        with self._llm_lock:
            if self._llm is None:
                if self.settings.llm_url:
                    from .generate import RemoteLLM
                    self._llm = RemoteLLM(self.settings)
                else:
                    from .generate import LocalLLM
                    self._llm = LocalLLM(self.settings)
            return self._llm

    @property
    def model_name(self) -> str:
        return getattr(self._llm, "name", None) or Path(self.settings.model_path).stem

    def reload_if_changed(self, wait: bool = True, on_step=None) -> bool:
        """Pick up a newer index version (see versions.VersionSwitch)."""
        return self.switch.reload_if_changed(wait, on_step)

    @property
    def last_switch(self) -> dict:
        return self.switch.last_switch

    def layout(self) -> str:
        return self.context.layout()

    def full_prompt(self) -> tuple[str, dict[int, int]]:
        return self.context.full_prompt()

    def build_context(self, question: str, language: str, hits: list[Hit], history: list[Turn],
                      evidence: tuple[int, str] | None = None) -> Context:
        # The model reads the question with its typing slips written right (rag/spelling.py): it does not
        # take "树梅派" for the 树莓派 (Raspberry Pi) of a passage, as retrieval does not.
        spelled, _ = self.retriever.speller.corrected(question)
        return self.context.build(spelled, language, hits, history, evidence)

    def chunk_pieces(self, positions: list[int]) -> list[str]:
        return self.context.chunk_pieces(positions)

    def chunk_kv(self):
        """The store of per-chunk KV states (rag/kvcache.py), shared by index versions."""
        if self._chunk_kv is None:
            from .kvcache import ChunkKV
            self._chunk_kv = ChunkKV(self.llm, chunk_kv_dir(self.settings), chunks_head(self.llm))
        return self._chunk_kv

    def warm(self, progress=None) -> str:
        """Load (or compute once and save) the KV state of the full-corpus prefix; in the
        `chunks` layout, compute the KV of every chunk after the base not stored yet
        (`progress(done, total)`), drop stored chunks the index no longer needs, and load
        (or compute) the base's state."""
        layout = self.layout()
        if layout == "chunks":
            return prepare_chunks(self.context, self.chunk_kv(), progress, prune=True)
        if layout != "full" or not self.llm.caches_prefix:
            return "not needed"
        return self.llm.warm_prefix(self.full_prompt()[0], self.data.path)

    # --- answering ------------------------------------------------------------------------

    def ask(self, question: str, history: list[Turn] | None = None, k: int | None = None) -> Answer:
        result = None
        for event in self.stream(question, history, k):
            if isinstance(event, AnswerEvent):
                result = event.answer
        return result

    def stream(self, question: str, history: list[Turn] | None = None, k: int | None = None,
               cancel: threading.Event | None = None) -> Iterator[StreamEvent]:
        """Yield `TokenEvent`s, then one `AnswerEvent` (rag/types.py).
        One index version answers from start to end: a newer one is prepared meanwhile and
        switched in between questions. When `cancel` is set the stream ends after the token
        in progress, with no answer event, and the model (and its lock) is free again."""
        self.reload_if_changed(wait=False)
        with self.switch.answering():
            for event in self._answer(question, history, k, cancel):
                if isinstance(event, AnswerEvent):
                    # the page says what was looked up when a typing slip was read as another word
                    spelled, fixes = self.retriever.speller.corrected(event.answer.question)
                    event.answer.spelled = spelled if fixes else None
                yield event

    def resolve(self, question: str, history: list[Turn], k: int | None = None):
        """(standalone question, retrieval) for a question after `history` (see followup)."""
        k = k or self.settings.k
        started = time.perf_counter()
        spelled, _ = self.retriever.speller.corrected(question)      # looked up with its typing slips written right
        standalone, retrieval = resolve(spelled, history,
                                        lambda query, also=None: self.retriever.search(query, k, also=also))
        retrieval.seconds = time.perf_counter() - started
        return standalone, retrieval

    def _answer(self, question: str, history: list[Turn] | None, k: int | None,
                cancel: threading.Event | None) -> Iterator[StreamEvent]:
        started = time.perf_counter()
        question = validate_question(question, self.settings)
        history = list(history or [])
        language = detect_language(question)
        if language == "und":
            q = Question(question, "en", standalone_question(question, history), started)
            yield from _refusal_events(self._assembler().refusal(q, "the question has no words to look up"))
            return
        standalone, retrieval = self.resolve(question, history, k)
        q = Question(question, language, standalone, started, retrieval.hits, retrieval.seconds)
        if not retrieval.relevant:
            yield from _refusal_events(self._assembler().refusal(q, retrieval.reason))
            return
        if cancel is not None and cancel.is_set():
            return
        evidence = None
        if self.settings.evidence_sentence:
            found = self._repair().evidence_for(q)
            evidence = (found.key, found.sentence) if found else None
        q.context = self.build_context(question, language, retrieval.hits, history, evidence)
        yield from self._generate(q, cancel, history)

    def _generate(self, q: Question, cancel: threading.Event | None, history: list[Turn]) -> Iterator[StreamEvent]:
        shaper = Shaper(q.language, set(q.context.numbering))
        if (yield from self._shaped(q, shaper, cancel)):
            return                        # stopped by the user: no answer, and the model is free
        if shaper.found_nothing:
            yield from _refusal_events(self._assembler().refusal_after_model(
                q, "the model found no answer in the passages"))
            return
        tail = shaper.flush()
        if tail:
            yield TokenEvent(tail)
        answer = self._assembler().answer(q, shaper)
        if self.settings.repair:
            answer = self._repair().repaired(q, shaper, answer, history, cancel)
        if answer is not None:
            yield AnswerEvent(answer)

    def _shaped(self, q: Question, shaper: Shaper,
                cancel: threading.Event | None) -> Generator[TokenEvent, None, bool]:
        """The model's reply to `q.context` fed through `shaper`, yielding what may be shown as
        `TokenEvent`s; it stops at the refusal marker. Returns True when `cancel` stopped it."""
        pieces = self._model_pieces(q.context.messages, self.settings.max_tokens, q.stats,
                                    layout=q.context.layout, pieces=q.context.pieces)
        try:
            for piece in pieces:
                if cancel is not None and cancel.is_set():
                    return True
                out = shaper.feed(piece)
                if shaper.refused or shaper.looping or shaper.templated:
                    break
                if out:
                    q.shown_now()
                    yield TokenEvent(out)
        finally:
            # Closing the model's generator leaves its `with lock` block: the model is free
            # as soon as this stream is closed, finished or cancelled, not when it is collected.
            _close(pieces)
        return False

    def _model_pieces(self, messages: list[dict], max_tokens: int, stats: GenStats, layout: str,
                      pieces: list[str] | None = None) -> Iterator[str]:
        """Text pieces from the model: in the full layout the corpus prefix's saved KV state
        loaded first; in the `chunks` layout the base's (or the fixed head's) and then the
        stored KV of `pieces` placed after it."""
        pieces = pieces or []
        placement = None
        if layout == "chunks":
            kv = self.chunk_kv()
            start = self.context.base_start(self.llm)
            placement = Placement((start[0] if start else kv.head) + "".join(pieces),
                                  lambda: kv.place(pieces, held=True, start=start))
        elif layout == "full":
            self.warm()
            if self.settings.contrast > 0 and hasattr(self.llm, "stream_contrast"):
                # Context-aware decoding: contrast with the same turn read without the documents.
                plain = [{"role": "system", "content": P.SYSTEM_RULES}, *messages[1:]]
                return self.llm.stream_contrast(messages, plain, self.settings.contrast, max_tokens, stats)
        return self.llm.stream_messages(messages, max_tokens, stats, placement=placement)

    def _assembler(self) -> Assembler:
        return Assembler(self.data, self.retriever, self.model_name)

    def _repair(self) -> Repair:
        return Repair(self.data, self.retriever.glossary, self.build_context, self._shaped, self._assembler(),
                      judge=self._judge if self.settings.check_yes_no else None)

    def _judge(self, q: Question, turn: str, max_tokens: int = 3) -> str:
        """The model's short reply to `turn`, asked in place of `q`'s question turn (after the same corpus
        prefix and passages, so the cached prefix is read again, not recomputed)."""
        messages = [*q.context.messages[:-1], {"role": "user", "content": turn}]
        pieces = self._model_pieces(messages, max_tokens, GenStats(), layout=q.context.layout,
                                    pieces=q.context.pieces)
        try:
            return "".join(pieces)
        finally:
            _close(pieces)


def _close(pieces) -> None:
    close = getattr(pieces, "close", None)
    if close is not None:
        close()


def _refusal_events(answer: Answer) -> Iterator[StreamEvent]:
    yield TokenEvent(answer.answer)
    yield AnswerEvent(answer)
