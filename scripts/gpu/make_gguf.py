"""Write a random-weight qwen2-architecture GGUF that llama.cpp loads, for speed checks only.

The tokenizer (Qwen2 BPE, 151936 tokens, ChatML specials) comes from llama.cpp's own
vocab-only file vendor/llama.cpp/models/ggml-vocab-qwen2.gguf; a ChatML chat template is
set so rag.generate.LocalLLM accepts the model. Quantized weights are written as raw
random blocks (random quants, small fixed block scales), so even a 1.5B-shaped model is
written in seconds. The outputs are gibberish: the file measures speed, not quality.

    python make_gguf.py OUT.gguf --vocab ggml-vocab-qwen2.gguf [--preset tiny|qwen1.5b]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

import gguf
from gguf import GGMLQuantizationType as Q

CHATML = ("{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
          "{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}"
          "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
          "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")

# name: (n_embd, n_layer, n_head, n_head_kv, n_ff, matrix type, embedding type, file type)
PRESETS = {
    # a few layers, hidden 512: the brief's "tiny" model
    "tiny": (512, 4, 8, 2, 1408, Q.Q8_0, Q.Q8_0, gguf.LlamaFileType.MOSTLY_Q8_0),
    # Qwen2.5-1.5B's shape (the default chat model's), Q4_K matrices, Q6_K embeddings
    "qwen1.5b": (1536, 28, 12, 2, 8960, Q.Q4_K, Q.Q6_K, gguf.LlamaFileType.MOSTLY_Q4_K_M),
}

# byte offset of each block's f16 scale(s) and a scale that keeps weights near std 0.02
SCALES = {
    Q.Q8_0: [(0, 2.7e-4)],
    Q.Q4_K: [(0, 1.4e-4), (2, 1.0e-4)],
    Q.Q6_K: [(208, 1.5e-5)],
}


def random_quant(rng: np.random.Generator, rows: int, cols: int, qtype: Q) -> np.ndarray:
    block, size = gguf.GGML_QUANT_SIZES[qtype]
    assert cols % block == 0, (cols, qtype)
    nb = cols // block
    data = np.frombuffer(rng.bytes(rows * nb * size), dtype=np.uint8).reshape(rows, nb, size).copy()
    for offset, scale in SCALES[qtype]:
        data[:, :, offset:offset + 2] = np.frombuffer(np.float16(scale).tobytes(), dtype=np.uint8)
    return data.reshape(rows, nb * size)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--vocab", required=True, help="llama.cpp's models/ggml-vocab-qwen2.gguf")
    ap.add_argument("--preset", default="tiny", choices=sorted(PRESETS))
    ap.add_argument("--ctx", type=int, default=32768)
    args = ap.parse_args(argv)
    n_embd, n_layer, n_head, n_head_kv, n_ff, mtype, etype, ftype = PRESETS[args.preset]
    head_dim = n_embd // n_head
    n_embd_kv = head_dim * n_head_kv
    started = time.perf_counter()

    vocab = gguf.GGUFReader(args.vocab)
    f = vocab.fields
    tokens = f["tokenizer.ggml.tokens"].contents()
    types = f["tokenizer.ggml.token_type"].contents()
    merges = f["tokenizer.ggml.merges"].contents()
    n_vocab = len(tokens)
    im_end = tokens.index("<|im_end|>")
    endoftext = tokens.index("<|endoftext|>")

    arch = "qwen2"
    w = gguf.GGUFWriter(args.out, arch)
    w.add_name(f"synthetic-{args.preset}-random")
    w.add_context_length(args.ctx)
    w.add_embedding_length(n_embd)
    w.add_block_count(n_layer)
    w.add_feed_forward_length(n_ff)
    w.add_head_count(n_head)
    w.add_head_count_kv(n_head_kv)
    w.add_rope_freq_base(1_000_000.0)
    w.add_layer_norm_rms_eps(1e-6)
    w.add_file_type(int(ftype))
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("qwen2")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_bos_token_id(endoftext)
    w.add_eos_token_id(im_end)
    w.add_pad_token_id(endoftext)
    w.add_add_bos_token(False)
    w.add_chat_template(CHATML)

    rng = np.random.default_rng(0)
    ones = np.ones(n_embd, dtype=np.float32)

    def mat(name: str, rows: int, cols: int, qtype: Q = mtype) -> None:
        # numpy shape (rows, cols) = ggml ne (cols, rows): cols is the input dimension
        w.add_tensor(name, random_quant(rng, rows, cols, qtype), raw_dtype=qtype)

    mat("token_embd.weight", n_vocab, n_embd, etype)          # tied: no output.weight
    w.add_tensor("output_norm.weight", ones)
    for i in range(n_layer):
        p = f"blk.{i}."
        w.add_tensor(p + "attn_norm.weight", ones)
        mat(p + "attn_q.weight", n_embd, n_embd)
        mat(p + "attn_k.weight", n_embd_kv, n_embd)
        mat(p + "attn_v.weight", n_embd_kv, n_embd)
        w.add_tensor(p + "attn_q.bias", np.zeros(n_embd, dtype=np.float32))
        w.add_tensor(p + "attn_k.bias", np.zeros(n_embd_kv, dtype=np.float32))
        w.add_tensor(p + "attn_v.bias", np.zeros(n_embd_kv, dtype=np.float32))
        mat(p + "attn_output.weight", n_embd, n_embd)
        w.add_tensor(p + "ffn_norm.weight", ones)
        mat(p + "ffn_gate.weight", n_ff, n_embd)
        mat(p + "ffn_up.weight", n_ff, n_embd)
        mat(p + "ffn_down.weight", n_embd, n_ff, Q.Q6_K if mtype == Q.Q4_K else mtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    size = Path(args.out).stat().st_size
    print(f"wrote {args.out}: {args.preset}, n_embd={n_embd} n_layer={n_layer} n_head={n_head}/{n_head_kv} "
          f"n_ff={n_ff} n_vocab={n_vocab} {mtype.name}/{etype.name}, {size / 1e6:.1f} MB "
          f"in {time.perf_counter() - started:.1f}s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
