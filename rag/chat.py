"""One call that ties the stages, `Assistant.stream` (the CLI, the UI and the API all use it):
question -> language -> what to look up (followup) -> hybrid retrieval, refusing early when
nothing fits -> the context (context.py: cached full corpus, stored chunk KV or top-k chunks)
-> the model's stream, shaped as it is shown (shaping.py) -> the checked, cited `Answer`
(assemble.py). Newer index versions are prepared and switched in between questions
(versions.py)."""
from __future__ import annotations

import dataclasses
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Generator, Iterator

from . import prompt as P
from . import store
from .assemble import Assembler, Question
from .config import Settings
from .context import Context, ContextLayout, chunk_kv_dir, chunks_head
from .errors import QuestionError
from .evidence import Evidence, best_sentence, fix_amounts, mismatch, question_kind, values
from .followup import resolve, standalone_question
from .llm import ChatModel, GenStats, Placement
from .retrieve import Retriever
from .shaping import Shaper
from .text import FOOTNOTE_RUN, detect_language, to_simplified
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
        return self.context.build(question, language, hits, history, evidence)

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
        `chunks` layout, compute the KV of every chunk not stored yet (`progress(done, total)`)
        and drop stored chunks the index no longer has."""
        layout = self.layout()
        if layout == "chunks":
            kv = self.chunk_kv()
            pieces = self.chunk_pieces(list(range(len(self.data.chunks))))
            computed = kv.prepare(pieces, progress)
            kv.prune(pieces)
            return f"computed {computed} chunks" if computed else "loaded"
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
            yield from self._answer(question, history, k, cancel)

    def resolve(self, question: str, history: list[Turn], k: int | None = None):
        """(standalone question, retrieval) for a question after `history` (see followup)."""
        k = k or self.settings.k
        started = time.perf_counter()
        standalone, retrieval = resolve(question, history,
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
            found = self.evidence_for(q)
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
            answer = self._repaired(q, shaper, answer, history, cancel)
        if answer is not None:
            yield AnswerEvent(answer)

    def _shaped(self, q: Question, shaper: Shaper,
                cancel: threading.Event | None) -> Generator[TokenEvent, None, bool]:
        """The model's reply to `q.context` fed through `shaper`, yielding what may be shown as
        `TokenEvent`s; it stops at the refusal marker. Returns True when `cancel` stopped it."""
        pieces = self._model_pieces(q.context.messages, self.settings.max_tokens, q.stats,
                                    cached_corpus=q.context.layout == "full", pieces=q.context.pieces)
        try:
            for piece in pieces:
                if cancel is not None and cancel.is_set():
                    return True
                out = shaper.feed(piece)
                if shaper.refused:
                    break
                if out:
                    q.shown_now()
                    yield TokenEvent(out)
        finally:
            # Closing the model's generator leaves its `with lock` block: the model is free
            # as soon as this stream is closed, finished or cancelled, not when it is collected.
            _close(pieces)
        return False

    # --- checking an answer against the sentence that states it --------------------------

    def evidence_for(self, q: Question, kind: str | None = None) -> Evidence | None:
        """The sentence of the best retrieved chunks that best states the answer (rag/evidence.py)."""
        top = [(p, self.data.chunks[p].text) for p in (self.data.position(h.chunk_id) for h in q.hits)]
        return best_sentence(q.standalone or q.text, top, kind, self.retriever.glossary)

    def _repaired(self, q: Question, shaper: Shaper, answer: Answer, history: list[Turn],
                  cancel: threading.Event | None) -> Answer | None:
        """Issue 16's answer-type check with repair. A draft that no passage supports (now a
        refusal), or a date or amount answer whose value is not the one the best evidence sentence
        gives for the question's subject, is repaired: an amount off by a 万/亿 scale is written
        again in code; otherwise the model answers once more with that sentence quoted in the
        question turn, and the new answer replaces the old one only when it passes the checks.
        A refused draft is answered again only when it was a bare yes or no ("不是。") or an amount
        off by a scale.
        None when the user cancelled meanwhile."""
        unsupported_draft = answer.refused
        kind = question_kind(q.text) or (question_kind(q.standalone) if q.standalone != q.text else None)
        if not unsupported_draft and kind is None:
            return answer
        evidence = self.evidence_for(q, kind) if kind else None
        evidence = evidence or (self.evidence_for(q) if unsupported_draft else None)
        if evidence is None:
            return answer
        if not unsupported_draft and not self._wrong_value(answer.answer, evidence, kind, q):
            return answer
        assembler = self._assembler()
        scale_error = False
        if kind == "amount":
            fixed = fix_amounts(shaper.shown, evidence)
            scale_error = fixed != shaper.shown
            if scale_error:
                shaper.shown = fixed
                candidate = assembler.answer(q, shaper)
                if not candidate.refused and not mismatch(candidate.answer, evidence, kind):
                    return candidate
        if unsupported_draft and not scale_error and not _BARE_YES_NO.match(to_simplified(answer.draft or "").strip()):
            return answer         # a refused draft is answered again only when it was a bare yes or no
            # (a draft with claims no passage backs may be a guess at a question the documents
            # do not answer; one with no claim at all, "Sure!", may be a hijacked reply)
        if cancel is not None and cancel.is_set():
            return None
        again = dataclasses.replace(q, stats=GenStats(), context=self.build_context(
            q.text, q.language, q.hits, history, evidence=(evidence.key, evidence.sentence)))
        shaper = Shaper(q.language, set(again.context.numbering))
        for _ in self._shaped(again, shaper, cancel):
            pass                          # the second reply is checked before anything of it is shown
        if cancel is not None and cancel.is_set():
            return None
        if not shaper.found_nothing:
            shaper.flush()
            if kind == "amount":
                shaper.shown = fix_amounts(shaper.shown, evidence)
            candidate = assembler.answer(again, shaper)
            if not candidate.refused and not (kind and mismatch(candidate.answer, evidence, kind)):
                return candidate
        return self._stated(again, evidence, answer) or answer

    def _stated(self, q: Question, evidence: Evidence, answer: Answer) -> Answer | None:
        """The evidence sentence itself as the answer, cited, when it is in the asker's language
        (after a bare "不是。" the model would not expand, or a value it kept getting wrong)."""
        chinese = q.language in ("zh-Hans", "zh-Hant")
        if chinese != detect_language(evidence.sentence).startswith("zh"):
            return None
        n = next((m for m, p in q.context.numbering.items() if p == evidence.key), None)
        if n is None:
            return None
        bare = (answer.draft or "").strip() if answer.refused else ""
        bare = bare if _BARE_YES_NO.match(to_simplified(bare)) else ""
        sentence = _LEADING_LINK.sub("", FOOTNOTE_RUN.sub("", evidence.sentence).strip())
        shaper = Shaper(q.language, set(q.context.numbering))
        shaper.feed(f"{bare}{sentence.rstrip('。.')}[{n}]{'。' if chinese else '.'}")
        shaper.flush()
        candidate = self._assembler().answer(q, shaper)
        return None if candidate.refused else candidate

    def _wrong_value(self, text: str, evidence: Evidence, kind: str, q: Question) -> bool:
        """The answer's value is not the evidence sentence's, and no sentence of the chunks the
        model was given that states the answer's value fits the question about as well (two sentences
        that both answer it, like two dates of one release, are left to the model)."""
        if not mismatch(text, evidence, kind):
            return False
        given = values(text, kind)
        if not given:
            return True
        # Any chunk the model was given may hold the answer's value (in the full layout, all).
        given_chunks = [(p, self.data.chunks[p].text) for p in (q.context.given if q.context else [])]
        for value in given:
            holder = best_sentence(q.standalone or q.text, given_chunks, kind, self.retriever.glossary,
                                   holding=value)
            if holder is not None and holder.score >= evidence.score - 0.05:
                return False
        return True

    def _model_pieces(self, messages: list[dict], max_tokens: int, stats: GenStats, cached_corpus: bool,
                      pieces: list[str] | None = None) -> Iterator[str]:
        """Text pieces from the model, the corpus prefix's saved KV state loaded first (or,
        given `pieces`, the stored KV of those chunks placed after the fixed head)."""
        placement = None
        if pieces:
            kv = self.chunk_kv()
            placement = Placement(kv.head + "".join(pieces), lambda: kv.place(pieces, held=True))
        elif cached_corpus:
            self.warm()
            if self.settings.contrast > 0 and hasattr(self.llm, "stream_contrast"):
                # Context-aware decoding: contrast with the same turn read without the documents.
                plain = [{"role": "system", "content": P.SYSTEM_RULES}, *messages[1:]]
                return self.llm.stream_contrast(messages, plain, self.settings.contrast, max_tokens, stats)
        return self.llm.stream_messages(messages, max_tokens, stats, placement=placement)

    def _assembler(self) -> Assembler:
        return Assembler(self.data, self.retriever, self.model_name)


# A draft that is only a yes or a no: right or wrong, it states nothing the checker can back.
_BARE_YES_NO = re.compile(r"^(?:是的?|不是|对|不对|否|没有|有|会|不会|可以|不可以|能|不能|并不是|并非|yes|no|not really)"
                          r"[。.!！]?$", re.IGNORECASE)
# A sentence quoted on its own loses the word that tied it to the one before ("但", "However,").
_LEADING_LINK = re.compile(r"^(?:但是|但|不过|然而|而且|而|因此|所以|(?:however|but|and|so|thus|therefore)\b,?)\s*",
                           re.IGNORECASE)


def _close(pieces) -> None:
    close = getattr(pieces, "close", None)
    if close is not None:
        close()


def _refusal_events(answer: Answer) -> Iterator[StreamEvent]:
    yield TokenEvent(answer.answer)
    yield AnswerEvent(answer)
