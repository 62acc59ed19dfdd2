"""One call that ties the stages: question -> language -> standalone question -> hybrid
retrieval (refuse early when nothing fits) -> prompt (cached full-corpus prefix, or top-k
chunks when the corpus outgrows the context) -> streamed generation with citation and
script control -> the final answer object of SPEC.md. The CLI and the UI both use
`Assistant.stream`. A newer index version (an ingest) is loaded and its prompt cache
prepared off the answering path, in a helper process, while questions are answered from
the current version; it is switched in between questions."""
from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from . import prompt as P
from . import store
from .cite import MARKER, CitationStream, check_answer, renumber
from .config import Settings
from .errors import QuestionError
from .followup import resolve, standalone_question  # noqa: F401  (standalone_question: re-exported)
from .llm import ChatModel, GenStats, Placement
from .retrieve import Retriever
from .text import HAN, detect_language, normalize, to_traditional
from .types import Answer, Citation, ContextUse, Hit, Timings

HISTORY_TURNS = 2
SWAP_WAIT_S = 120.0          # longest a version switch waits for answers in flight to finish
PREPARE_TIMEOUT_S = 3600.0   # the helper process computing a new prompt cache


@dataclass
class Turn:
    question: str
    answer: str
    standalone: str


@dataclass
class Context:
    layout: str
    messages: list[dict]
    numbering: dict[int, int]             # model number -> chunk position in the index
    given: list[int]                      # chunk positions given to the model, best first
    trimmed: int = 0
    pieces: list[str] = field(default_factory=list)   # `chunks` layout: passages placed from stored KV


class GlossStrip:
    """Chinese answers drop the English glosses the prompt adds to 万/亿 amounts
    ("4 亿(400 million)" -> "4 亿"), holding back a gloss until it is complete."""
    GLOSS = re.compile(r"(?<=[万亿萬億])\s*[(（][\d.,]+(?:\s*(?:million|billion|thousand|万|亿|萬|億|千))?[)）]")
    PARTIAL = re.compile(r"[万亿萬億]\s*(?:[(（][\d.,]*(?:\s*[a-z万亿萬億千]*)?)?$")

    def __init__(self):
        self.pending = ""

    def feed(self, text: str) -> str:
        text = self.pending + text
        m = self.PARTIAL.search(text)
        cut = m.start() if m else len(text)
        self.pending = text[cut:]
        return self.GLOSS.sub("", text[:cut])

    def flush(self) -> str:
        text, self.pending = self.pending, ""
        return self.GLOSS.sub("", text)


class ScriptStream:
    """Simplified -> Traditional on streamed text, converting at phrase boundaries so
    that multi-character conversions (软件 -> 軟體) see whole words. Text with no Han
    character after the last boundary ("Gemma", "256K") passes at once: it has nothing
    to convert, and holding it would delay the first word of most answers by a few
    tokens. (The one cost: a phrase that starts with a Latin letter, like U盘 -> 隨身碟,
    is converted character by character, U盤, when the letter arrives alone.)"""
    BOUNDARY = re.compile(r"[，。！？；：、,.!?;:\s\[\]()（）]")

    def __init__(self, convert):
        self.convert = convert
        self.buffer = ""

    def feed(self, text: str) -> str:
        self.buffer += text
        cut = max((m.end() for m in self.BOUNDARY.finditer(self.buffer)), default=0)
        if cut < len(self.buffer) and not HAN.search(self.buffer, cut):
            cut = len(self.buffer)
        if cut == 0 and len(self.buffer) < 16:
            return ""
        cut = cut or len(self.buffer)
        out, self.buffer = self.buffer[:cut], self.buffer[cut:]
        return self.convert(out)

    def flush(self) -> str:
        out, self.buffer = self.buffer, ""
        return self.convert(out) if out else ""


_TITLE_LINE = re.compile(r"^\[\d+\] .+\([a-z0-9.-]+\.[a-z]{2,}\)$")


def _is_title_list(text: str) -> bool:
    lines = [l.strip() for l in text.splitlines() if l.strip() and l.strip() != "来源"]
    return bool(lines) and sum(bool(_TITLE_LINE.match(l)) for l in lines) >= 0.6 * len(lines)


_INSTRUCTION_ECHO = re.compile(
    r"[（(]\s*(?:(?:参考|參考|see)\s*(?:\[\d+\])*\s*[；;，,]?\s*)?(?:"
    + "|".join(re.escape(t) for text in P.ANSWER_IN.values() for t in {text, to_traditional(text)})
    + r")\s*[）)]")


def drop_echo(answer: str, question: str) -> str:
    """A small model sometimes starts by repeating the question turn, instruction and all
    ("…為什麼重要？（參考[2]；用繁體中文完整回答）"): drop the instruction and a first line that
    only repeats the question."""
    text = _INSTRUCTION_ECHO.sub("", answer)
    first, _, rest = text.partition("\n")
    plain = MARKER.sub("", first).strip()
    if rest.strip() and normalize(plain) in (normalize(question.strip()), normalize(to_traditional(question.strip()))):
        text = rest
    return text.strip()


def validate_question(question: str, settings: Settings) -> str:
    if question is None or not str(question).strip():
        raise QuestionError("the question is empty; type a question about Gemma 4 or the documents")
    question = str(question).strip()
    if len(question) > settings.max_question_chars:
        raise QuestionError(f"the question is {len(question):,} characters long; keep it under "
                            f"{settings.max_question_chars:,} (RAG_MAX_QUESTION_CHARS)")
    return question


def full_prompt_of(data: store.IndexData) -> tuple[str, dict[int, int]]:
    """Every chunk, numbered in index order, as one fixed system prompt."""
    numbered = [P.Numbered(i + 1, c) for i, c in enumerate(data.chunks)]
    return P.full_system_prompt(numbered, data.documents), {i + 1: i for i in range(len(data.chunks))}


def _settings_json(settings: Settings) -> str:
    return json.dumps(dataclasses.asdict(settings), default=str)


def _settings_from_json(text: str) -> Settings:
    values = json.loads(text)
    for f in dataclasses.fields(Settings):
        if isinstance(f.default, Path) and values.get(f.name) is not None:
            values[f.name] = Path(values[f.name])
    return Settings(**values)


def prepare_prefix_main() -> int:
    """The helper process that computes a new index version's prompt cache with its own
    model instance, at low priority, so the serving model keeps answering. Reads
    {"settings": ..., "version": path} on stdin, prints how the state was made."""
    job = json.loads(sys.stdin.read())
    settings = _settings_from_json(job["settings"])
    try:
        os.nice(10)
    except OSError:
        pass
    data = store.load_index(Path(settings.index_dir), expect=store.index_expectations(settings), verify=False)
    if str(data.path) != job["version"]:
        print("superseded")      # a newer version came; the server prepares that one next
        return 0
    from .generate import LocalLLM
    llm = LocalLLM(settings)
    if job.get("layout") == "chunks":
        from .kvcache import ChunkKV
        kv = ChunkKV(llm, chunk_kv_dir(settings), chunks_head(llm))
        pieces = [P.passage_piece(i + 1, c, data.documents) for i, c in enumerate(data.chunks)]
        computed = kv.prepare(pieces, lambda done, total: print(f"chunk {done}/{total}", file=sys.stderr, flush=True))
        print(f"computed {computed} chunks" if computed else "saved")
        return 0
    print(llm.warm_prefix(full_prompt_of(data)[0], data.path))
    return 0


def chunk_kv_dir(settings: Settings) -> Path:
    """Stored per-chunk KV, shared by index versions (keys are content hashes)."""
    return Path(settings.index_dir) / "chunk-kv"


def chunks_head(llm) -> str:
    """The rendered start of the `chunks` layout's system turn, up to the first piece."""
    sentinel = "\x00PASSAGES\x00"
    rendered = llm.render([{"role": "system", "content": P.chunks_head() + sentinel}], generation_prompt=False)
    return rendered.split(sentinel)[0]


def _run_reporting(job: str, env: dict, step) -> subprocess.CompletedProcess:
    """The chunk-KV helper, its "chunk i/n" progress lines passed on as they come."""
    proc = subprocess.Popen([sys.executable, "-c", "import sys; from rag.chat import prepare_prefix_main; "
                             "sys.exit(prepare_prefix_main())"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    proc.stdin.write(job)
    proc.stdin.close()
    tail = []
    deadline = time.monotonic() + PREPARE_TIMEOUT_S
    for line in proc.stderr:
        line = line.strip()
        if line.startswith("chunk "):
            step(f"prompt cache: {line} (read once)")
        elif line:
            tail = (tail + [line])[-5:]
        if time.monotonic() > deadline:
            proc.kill()
            raise subprocess.TimeoutExpired(proc.args, PREPARE_TIMEOUT_S)
    out = proc.stdout.read()
    proc.wait()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, "\n".join(tail))


class Assistant:
    def __init__(self, settings: Settings, llm=None, embedder=None):
        self.settings = settings
        if embedder is None:
            from .embed import Embedder
            embedder = Embedder(Path(settings.embedder_path), threads=settings.n_threads)
        self.embedder = embedder
        self._llm = llm
        self._llm_lock = threading.Lock()
        self._reload_lock = threading.Lock()       # one version switch at a time
        self._gate = threading.Condition()          # answers in flight vs a version switch
        self._in_flight = 0
        self._swap_pending = False
        self._preparing = False
        self.last_switch: dict = {}                 # how the last version switch went (for the UI and tests)
        self._translations: dict[str, str] = {}
        self._load()

    # --- index and model ---------------------------------------------------------------

    def _load(self) -> None:
        data = store.load_index(Path(self.settings.index_dir), expect=store.index_expectations(self.settings))
        self.data = data
        self.retriever = Retriever(data, self.embedder, self.settings)
        self._full: tuple[str, dict[int, int]] | None = None
        self._full_tokens: int | None = None
        self._chunk_kv = None

    def reload_if_changed(self, wait: bool = True, on_step=None) -> bool:
        """Pick up a newer index version (an ingest from the UI or another shell). It is
        loaded and its prompt cache prepared while questions are answered from the current
        version, then switched in between questions. `wait=False` does that in a background
        thread and returns at once. True when a newer version was found."""
        current = store.current_path(Path(self.settings.index_dir))
        if current is None or current == self.data.path:
            return False
        if wait:
            self._switch(on_step)
            return True
        with self._gate:
            if self._preparing:
                return True
            self._preparing = True
        threading.Thread(target=self._switch_in_background, name="rag-version-switch", daemon=True).start()
        return True

    def _switch_in_background(self) -> None:
        try:
            self._switch()
        except Exception as e:        # the current version keeps answering; say why
            print(f"note: the new index version was not taken up ({type(e).__name__}: {e})", file=sys.stderr)
        finally:
            with self._gate:
                self._preparing = False

    def _switch(self, on_step=None) -> None:
        step = on_step or (lambda text: None)
        index_dir = Path(self.settings.index_dir)
        with self._reload_lock:
            while store.current_path(index_dir) not in (None, self.data.path):
                started = time.perf_counter()
                step("loading the new index")
                data = store.load_index(index_dir, expect=store.index_expectations(self.settings))
                retriever = Retriever(data, self.embedder, self.settings)
                full = full_prompt_of(data)
                tokens = None
                layout = self.settings.context_mode
                local = self.llm.caches_prefix
                if layout not in ("full", "retrieval", "chunks"):
                    tokens = self.llm.count_tokens(full[0])
                    layout = "full" if tokens <= self.settings.full_context_max_tokens else \
                        (self.settings.beyond_full if local else "retrieval")
                cache = "not needed"
                if layout in ("full", "chunks") and local:
                    step("preparing the model's prompt cache for the new documents "
                         "(answers use the previous documents until it is ready)")
                    cache = self._prepare_prefix_state(full[0], data.path, layout, step)
                    if cache == "superseded":
                        continue          # a newer version came meanwhile: prepare that one
                waited = time.perf_counter()
                with self._gate:
                    self._swap_pending = True
                    self._gate.wait_for(lambda: self._in_flight == 0, timeout=SWAP_WAIT_S)
                    self.data, self.retriever = data, retriever
                    self._full, self._full_tokens = full, tokens
                    self._swap_pending = False
                    self._gate.notify_all()
                self.last_switch = {"version": data.path.name, "layout": layout, "prompt_cache": cache,
                                    "seconds": round(time.perf_counter() - started, 2),
                                    "waited_for_answers_s": round(time.perf_counter() - waited, 2)}
                if layout in ("full", "chunks") and local:
                    step("loading the new prompt cache")
                    self.warm()

    def _prepare_prefix_state(self, system: str, version: Path, layout: str = "full", step=None) -> str:
        """Compute the new version's prompt cache in a helper process with its own model
        instance (the serving one keeps answering), unless it is already saved. In the
        `chunks` layout that is each new chunk's KV, its progress passed to `step`."""
        llm = self.llm
        prefix = llm.system_prefix(system)
        state = llm.state_file(prefix, version)
        if layout == "full" and state.exists():
            return "saved"
        package_root = str(Path(__file__).resolve().parent.parent)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")])))
        job = json.dumps({"settings": _settings_json(self.settings), "version": str(version), "layout": layout})
        try:
            if layout == "chunks":
                done = _run_reporting(job, env, step or (lambda text: None))
            else:
                done = subprocess.run([sys.executable, "-c", "import sys; from rag.chat import prepare_prefix_main; "
                                       "sys.exit(prepare_prefix_main())"], input=job, capture_output=True, text=True,
                                      env=env, timeout=PREPARE_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            return "helper timed out"
        if layout == "chunks" and done.returncode == 0:
            return done.stdout.strip() or "computed"
        if layout == "full" and (state.exists() or done.stdout.strip() == "superseded"):
            return done.stdout.strip() or "computed"
        why = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
        print(f"note: the prompt cache for the new documents could not be prepared aside ({why}); "
              "the first question computes it", file=sys.stderr)
        return "failed"

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

    def full_prompt(self) -> tuple[str, dict[int, int]]:
        """Every chunk, numbered in index order, as one fixed system prompt."""
        if self._full is None:
            self._full = full_prompt_of(self.data)
        return self._full

    def layout(self) -> str:
        mode = self.settings.context_mode
        if mode == "chunks" and not self.llm.caches_prefix:
            return "retrieval"            # a model server holds no stored chunk KV
        if mode in ("full", "retrieval", "chunks"):
            return mode
        if self._full_tokens is None:
            system, _ = self.full_prompt()
            self._full_tokens = self.llm.count_tokens(system)
        if self._full_tokens <= self.settings.full_context_max_tokens:
            return "full"
        return self.settings.beyond_full if self.llm.caches_prefix else "retrieval"

    def chunk_kv(self):
        """The store of per-chunk KV states (rag/kvcache.py), shared by index versions."""
        if self._chunk_kv is None:
            from .kvcache import ChunkKV
            self._chunk_kv = ChunkKV(self.llm, chunk_kv_dir(self.settings), chunks_head(self.llm))
        return self._chunk_kv

    def chunk_pieces(self, positions: list[int]) -> list[str]:
        return [P.passage_piece(p + 1, self.data.chunks[p], self.data.documents) for p in positions]

    def warm(self, progress=None) -> str:
        """Load (or compute once and save) the KV state of the full-corpus prefix; in the
        `chunks` layout, compute the KV of every chunk not stored yet (`progress(done, total)`)
        and drop stored chunks the index no longer has."""
        if self.layout() == "chunks":
            kv = self.chunk_kv()
            pieces = self.chunk_pieces(list(range(len(self.data.chunks))))
            computed = kv.prepare(pieces, progress)
            kv.prune(pieces)
            return f"computed {computed} chunks" if computed else "loaded"
        if self.layout() != "full" or not self.llm.caches_prefix:
            return "not needed"
        return self.llm.warm_prefix(self.full_prompt()[0], self.data.path)

    def translate(self, question: str) -> str:
        """A Simplified Chinese rendering of a question by the local model, cached by
        question. Asked after the cached corpus prefix, so it costs only its own turn.
        Measured by `rag eval` as a retrieval variant; not used when answering, since
        the glossary reaches the same evidence@5 at no model cost (docs/EVAL.md)."""
        import hashlib
        key = hashlib.sha256(question.encode()).hexdigest()
        if key not in self._translations:
            instruction = ("Translate this question into Simplified Chinese. Reply with the translation only.\n"
                           + question)
            messages = [{"role": "system", "content": self.full_prompt()[0]}, {"role": "user", "content": instruction}]
            pieces = self._model_pieces(messages, 80, GenStats(), cached_corpus=self.layout() == "full")
            self._translations[key] = "".join(pieces).strip().split("\n")[0]
        return self._translations[key]

    # --- prompts -------------------------------------------------------------------------

    def _history_messages(self, history: list[Turn]) -> list[dict]:
        out = []
        for turn in history[-HISTORY_TURNS:]:
            out.append({"role": "user", "content": turn.question})
            out.append({"role": "assistant", "content": MARKER.sub("", turn.answer).strip()})
        return out

    def build_context(self, question: str, language: str, hits: list[Hit], history: list[Turn]) -> Context:
        positions = [self.data.position(h.chunk_id) for h in hits]
        if self.layout() == "full":
            system, numbering = self.full_prompt()
            hinted = self.settings.hint_passages if language != "en" or self.settings.hint_english else 0
            hint = [p + 1 for p in positions[:hinted]]
            messages = [{"role": "system", "content": system}, *self._history_messages(history),
                        {"role": "user", "content": P.user_turn(question, language, hint=hint)}]
            if self._fits(messages):
                return Context("full", messages, numbering, list(range(len(self.data.chunks))))
        if self.layout() == "chunks":
            return self._chunks_context(question, language, positions, history)
        return self._retrieval_context(question, language, positions, history)

    def _chunks_context(self, question, language, positions, history) -> Context:
        """Top-k chunks as stored-KV pieces in the system prompt, in index order (numbered by
        index position, so a piece's text, and its KV, never depends on the question); the
        lowest-ranked go first when over budget."""
        keep = list(positions)
        trimmed = 0
        hinted = self.settings.hint_passages if language != "en" or self.settings.hint_english else 0
        while True:
            given = sorted(keep)
            pieces = self.chunk_pieces(given)
            messages = [{"role": "system", "content": P.chunks_head() + "".join(pieces)},
                        *self._history_messages(history),
                        {"role": "user", "content": P.user_turn(question, language,
                                                                hint=[p + 1 for p in keep[:hinted]])}]
            if self._fits(messages) or not keep:
                return Context("chunks", messages, {p + 1: p for p in given}, keep, trimmed, pieces)
            if history:
                history = history[1:]
                continue
            keep = keep[:-1]
            trimmed += 1

    def _retrieval_context(self, question, language, positions, history) -> Context:
        """Top-k chunks in the user turn; the lowest-ranked go first when over budget."""
        keep = list(positions)
        trimmed = 0
        while True:
            numbering = {n + 1: p for n, p in enumerate(keep)}
            numbered = [P.Numbered(n, self.data.chunks[p]) for n, p in numbering.items()]
            passages = P.passages_block(numbered, self.data.documents)
            messages = [{"role": "system", "content": P.retrieval_system_prompt()}, *self._history_messages(history),
                        {"role": "user", "content": P.user_turn(question, language, passages=passages)}]
            if self._fits(messages) or not keep:
                return Context("retrieval", messages, numbering, keep, trimmed)
            if history:
                history = history[1:]
                continue
            keep = keep[:-1]
            trimmed += 1

    def _fits(self, messages: list[dict]) -> bool:
        # The full-corpus system prompt was counted once by layout(); count only the rest.
        full = self._full is not None and self._full_tokens is not None and messages[0]["content"] == self._full[0]
        head = self._full_tokens if full else 0
        text = "\n".join(m["content"] for m in (messages[1:] if full else messages))
        return head + self.llm.count_tokens(text) + self.settings.max_tokens + 64 <= self.settings.n_ctx

    # --- answering ------------------------------------------------------------------------

    def ask(self, question: str, history: list[Turn] | None = None, k: int | None = None) -> Answer:
        result = None
        for event in self.stream(question, history, k):
            if event["type"] == "answer":
                result = event["answer"]
        return result

    def stream(self, question: str, history: list[Turn] | None = None, k: int | None = None,
               cancel: threading.Event | None = None) -> Iterator[dict]:
        """Yield {"type": "token", "text": ...} events, then one {"type": "answer", "answer": Answer}.
        One index version answers from start to end: a newer one is prepared meanwhile and
        switched in between questions. When `cancel` is set the stream ends after the token
        in progress, with no answer event, and the model (and its lock) is free again."""
        self.reload_if_changed(wait=False)
        with self._gate:
            self._gate.wait_for(lambda: not self._swap_pending, timeout=SWAP_WAIT_S)
            self._in_flight += 1
        try:
            yield from self._answer(question, history, k, cancel)
        finally:
            with self._gate:
                self._in_flight -= 1
                self._gate.notify_all()

    def _answer(self, question: str, history: list[Turn] | None, k: int | None,
                cancel: threading.Event | None = None) -> Iterator[dict]:
        started = time.perf_counter()
        question = validate_question(question, self.settings)
        history = list(history or [])
        language = detect_language(question)
        if language == "und":
            yield from self._refuse(question, "en", standalone_question(question, history), [],
                                    "the question has no words to look up", started, 0.0)
            return
        standalone, retrieval = self.resolve(question, history, k)
        if not retrieval.relevant:
            yield from self._refuse(question, language, standalone, retrieval.hits, retrieval.reason, started,
                                    retrieval.seconds)
            return
        if cancel is not None and cancel.is_set():
            return
        context = self.build_context(question, language, retrieval.hits, history)
        yield from self._generate(question, language, standalone, retrieval, context, started, cancel)

    def resolve(self, question: str, history: list[Turn], k: int | None = None):
        """(standalone question, retrieval) for a question after `history` (see followup)."""
        k = k or self.settings.k
        started = time.perf_counter()
        standalone, retrieval = resolve(question, history,
                                        lambda query, also=None: self.retriever.search(query, k, also=also))
        retrieval.seconds = time.perf_counter() - started
        return standalone, retrieval

    def _refuse(self, question, language, standalone, hits, reason, started, retrieve_s) -> Iterator[dict]:
        text = P.refusal_text(language)
        yield {"type": "token", "text": text}
        elapsed = round(time.perf_counter() - started, 4)
        yield {"type": "answer", "answer": Answer(
            question, text, language, refused=True, refusal_reason=reason, retrieved=list(hits),
            standalone_question=standalone,
            timings=Timings(retrieve_s=round(retrieve_s, 4), ttft_s=elapsed, total_s=elapsed),
            model=self.model_name)}

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
        return self.llm.stream_messages(messages, max_tokens, stats, placement=placement)

    def _refusal_after_model(self, question, language, standalone, retrieval, reason, context, stats, started,
                             first_shown) -> Answer:
        """The refusal answer for a question the model was asked, with its real timings."""
        answer = list(self._refuse(question, language, standalone, retrieval.hits, reason, started,
                                   retrieval.seconds))[-1]["answer"]
        answer.timings = self._timings(stats, retrieval.seconds, started, first_shown)
        answer.context = self._context_info(context, stats)
        return answer

    def _generate(self, question, language, standalone, retrieval, context: Context, started,
                  cancel: threading.Event | None = None) -> Iterator[dict]:
        stats = GenStats()
        pieces = self._model_pieces(context.messages, self.settings.max_tokens, stats,
                                    cached_corpus=context.layout == "full", pieces=context.pieces)
        try:
            yield from self._generate_from(pieces, question, language, standalone, retrieval, context, started,
                                           stats, cancel)
        finally:
            # Closing the model's generator leaves its `with lock` block: the model is free
            # as soon as this stream is closed, finished or cancelled, not when it is collected.
            close = getattr(pieces, "close", None)
            if close is not None:
                close()

    def _generate_from(self, pieces, question, language, standalone, retrieval, context: Context, started, stats,
                       cancel: threading.Event | None) -> Iterator[dict]:
        citations = CitationStream(set(context.numbering))
        script = ScriptStream(to_traditional) if language == "zh-Hant" else None
        gloss = GlossStrip() if language in ("zh-Hans", "zh-Hant") else None
        raw, shown, first_shown = "", "", None
        held = ""
        model_refused = False
        for piece in pieces:
            if cancel is not None and cancel.is_set():
                return                    # stopped by the user: no answer, the finally frees the model
            raw += piece
            if not first_shown and len(raw.strip()) < len(P.REFUSAL_MARK) and P.REFUSAL_MARK.startswith(raw.strip()):
                held = raw
                continue                  # could still become the refusal marker
            if P.REFUSAL_MARK in raw[:40]:
                model_refused = True
                break
            out = held + piece if held else piece
            held = ""
            if gloss:
                out = gloss.feed(out)
            out = citations.feed(out)
            if script:
                out = script.feed(out)
            if out:
                shown += out
                if first_shown is None:
                    first_shown = time.perf_counter() - started
                yield {"type": "token", "text": out}
        if model_refused or not raw.strip() or raw.strip() == P.REFUSAL_MARK:
            answer = self._refusal_after_model(question, language, standalone, retrieval,
                                               "the model found no answer in the passages", context, stats, started,
                                               first_shown)
            yield {"type": "token", "text": answer.answer}
            yield {"type": "answer", "answer": answer}
            return
        tail = (gloss.feed(held) + gloss.flush()) if gloss else held
        tail = citations.feed(tail) + citations.flush()
        if script:
            tail = script.feed(tail) + script.flush()
        if tail:
            shown += tail
            yield {"type": "token", "text": tail}
        yield {"type": "answer", "answer": self._finish(question, language, standalone, retrieval, context,
                                                         citations, shown, stats, started, first_shown)}

    def _finish(self, question, language, standalone, retrieval, context, citations, shown, stats, started,
                first_shown) -> Answer:
        order = citations.order                                # display n-1 -> model n
        positions = {i + 1: context.numbering[m] for i, m in enumerate(order)}

        def as_read(p: int) -> str:
            # The model reads each chunk under its document's title and site, so "according
            # to 9to5Google" is checked against the site too. A Traditional answer uses
            # Taiwan wording (支持 -> 支援, 窗口 -> 視窗): check it against both forms.
            chunk = self.data.chunks[p]
            doc = self.data.documents.get(chunk.doc_id)
            text = P.model_text(chunk) + (f"\n({doc.site})" if doc and doc.site else "")
            return text + "\n" + to_traditional(text) if language == "zh-Hant" else text
        chunk_for = {n: as_read(p) for n, p in positions.items()}
        scores = {self.data.position(h.chunk_id): h.score for h in retrieval.hits}
        # Best retrieval rank first, but a bare list of source titles (the article's 来源
        # list) last: when it ties with the sentence that states the fact, cite the sentence.
        ranked = sorted(context.given, key=lambda p: (_is_title_list(self.data.chunks[p].text), -scores.get(p, -1.0)))
        all_given = {p: as_read(p) for p in ranked}
        shown = drop_echo(shown, question)
        checked, added = check_answer(shown, chunk_for, all_chunks=all_given, glossary=self.retriever.glossary)
        positions.update(added)
        text, mapping = renumber(checked.text)
        positions = {mapping[n]: p for n, p in positions.items() if n in mapping}
        if not checked.supported:
            # Nothing in the draft is backed by the documents (a guess, or a passage's text
            # taking over the answer, like "PWNED"): say so instead of showing it.
            refusal = self._refusal_after_model(question, language, standalone, retrieval,
                                                "no sentence of the draft answer is supported by the documents",
                                                context, stats, started, first_shown)
            refusal.draft = shown
            refusal.unsupported = checked.unsupported
            return refusal
        citations = [Citation(**vars(self._hit(positions[n], scores.get(positions[n], 0.0))), n=n,
                              sources=self.provenance(positions[n])) for n in sorted(positions)]
        retrieved = [self._hit(p, scores.get(p, 0.0)) for p in ranked]
        return Answer(question, text, language, citations=citations, retrieved=retrieved,
                      standalone_question=standalone, unsupported=checked.unsupported,
                      context=self._context_info(context, stats),
                      timings=self._timings(stats, retrieval.seconds, started, first_shown), model=self.model_name)

    def _timings(self, stats, retrieve_s, started, first_shown) -> Timings:
        total = time.perf_counter() - started
        return Timings(retrieve_s=round(retrieve_s, 4),
                       ttft_s=round(first_shown if first_shown is not None else total, 4),
                       generate_s=round(stats.generate_s, 4), total_s=round(total, 4),
                       completion_tokens=stats.completion_tokens, tokens_per_s=round(stats.tokens_per_s, 2))

    @staticmethod
    def _context_info(context: Context, stats) -> ContextUse:
        return ContextUse(context.layout, len(context.given), context.trimmed, stats.prompt_tokens,
                          stats.cached_tokens)

    def _hit(self, position: int, score: float) -> Hit:
        return self.retriever.hit(position, float(score))

    def provenance(self, position: int) -> list[dict]:
        """The cited sources behind an article chunk: its [n] footnotes resolved to the
        source documents of the article's 来源 list."""
        chunk = self.data.chunks[position]
        doc = self.data.documents.get(chunk.doc_id)
        if not doc or doc.kind != "article" or not chunk.cites:
            return []
        mapping = doc.meta.get("sources", {})
        out = []
        for n in chunk.cites:
            source = self.data.documents.get(mapping.get(str(n), ""))
            if source:
                snippet = source.text.split("\n\n", 1)[-1].strip()
                out.append({"number": n, "doc_id": source.doc_id, "title": source.title, "site": source.site,
                            "url": source.url, "snippet": snippet})
        return out
