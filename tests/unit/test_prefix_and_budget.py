import pytest

from fakes import FakeChatModel
from rag.assemble import Assembler
from rag.chat import Assistant
from rag.generate import prefix_state_key
from rag.ingest import ingest

BASE = dict(model="m", model_size=1, n_ctx=4096, llama_cpp_version="0.3.36", gpu_layers=0, flash_attn=False,
            cache_type_k="q8_0")


def test_prefix_key_changes_with_prompt_model_and_context():
    key = prefix_state_key("passages v1", **BASE)
    assert key == prefix_state_key("passages v1", **BASE)
    assert key != prefix_state_key("passages v2", **BASE)
    assert key != prefix_state_key("passages v1", **dict(BASE, model_size=2))
    assert key != prefix_state_key("passages v1", **dict(BASE, n_ctx=8192))
    assert key != prefix_state_key("passages v1", **dict(BASE, gpu_layers=-1))
    assert key != prefix_state_key("passages v1", **dict(BASE, cache_type_k="f16"))


def test_the_loaded_models_state_key_names_its_kv_settings(tmp_path):
    """A state saved with f16 keys (or flash attention) is never loaded into a context
    that uses q8_0 keys: LocalLLM.prefix_key passes both settings into the key."""
    from rag.config import Settings
    from rag.generate import LocalLLM
    pytest.importorskip("llama_cpp")
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF")

    def key(**changes):
        llm = LocalLLM.__new__(LocalLLM)        # the key needs no loaded model
        llm.name, llm.n_ctx, llm.gpu_layers, llm.cache_type_k = "m", 4096, 0, "q8_0"
        llm.settings = Settings(model_path=model)
        for name, value in changes.items():
            setattr(llm.settings if name == "flash_attn" else llm, name, value)
        return llm.prefix_key("passages")
    assert key() == key()
    assert key() != key(cache_type_k="f16")
    assert key() != key(flash_attn=True)


class CountingLLM(FakeChatModel):
    """Building a prompt needs a token count: 1 token per 2 characters."""
    name = "counter"
    chars_per_token = 2


@pytest.fixture
def small_assistant(tmp_settings, fake_embedder):
    ingest(tmp_settings, embedder=fake_embedder, progress=False)
    return Assistant(tmp_settings, llm=CountingLLM(), embedder=fake_embedder)


def test_new_index_version_gets_its_own_prefix_state_folder(tmp_settings, fake_embedder, tmp_path):
    ingest(tmp_settings, embedder=fake_embedder, progress=False)
    a = Assistant(tmp_settings, llm=CountingLLM(), embedder=fake_embedder)
    old_path, old_prompt = a.data.path, a.full_prompt()[0]
    note = tmp_path / "n.md"
    note.write_text("# 笔记\n\n新的内容让语料变了。", encoding="utf-8")
    ingest(tmp_settings, [str(note)], embedder=fake_embedder, progress=False)
    assert a.reload_if_changed()
    assert a.data.path != old_path and not old_path.exists()     # the state saved beside it went too
    assert a.full_prompt()[0] != old_prompt and "新的内容" in a.full_prompt()[0]


def test_layout_switches_to_retrieval_when_the_corpus_outgrows_the_budget(small_assistant):
    small_assistant.settings.full_context_max_tokens = 100_000
    small_assistant.context.full_tokens = None
    assert small_assistant.layout() == "full"
    small_assistant.settings.full_context_max_tokens = 100
    small_assistant.context.full_tokens = None
    assert small_assistant.layout() == "retrieval"


def test_budget_cuts_the_lowest_ranked_chunks_first(small_assistant):
    s = small_assistant.settings
    s.context_mode = "retrieval"
    hits = small_assistant.retriever.search("Gemma 4 许可证 Apache 2.0", 8).hits
    s.n_ctx = 10_000
    full = small_assistant.build_context("Gemma 4 许可证？", "zh-Hans", hits, [])
    assert full.trimmed == 0 and len(full.given) == 8
    s.n_ctx = s.max_tokens + 64 + 700            # room for only a few chunks
    cut = small_assistant.build_context("Gemma 4 许可证？", "zh-Hans", hits, [])
    assert 0 < len(cut.given) < 8 and cut.trimmed == 8 - len(cut.given)
    assert cut.given == full.given[:len(cut.given)]      # kept the best-ranked ones, in order
    text = "\n".join(m["content"] for m in cut.messages)
    assert CountingLLM().count_tokens(text) + s.max_tokens + 64 <= s.n_ctx


@pytest.mark.parametrize("mode", ["full", "retrieval"])
def test_a_chinese_question_whose_best_passage_is_english_asks_for_a_translation(small_assistant, mode):
    """A small model copies an English clause into a Chinese answer unless told to translate it; the
    instruction is added only when the best passage is in the other language."""
    from rag import prompt as P
    s = small_assistant.settings
    s.context_mode, s.full_context_max_tokens, s.n_ctx = mode, 100_000, 100_000
    small_assistant.context.full_tokens = None
    data, retriever = small_assistant.data, small_assistant.retriever
    english = next(i for i, c in enumerate(data.chunks) if c.doc_id.startswith("source"))
    chinese = next(i for i, c in enumerate(data.chunks) if c.doc_id == "article")

    def turn(language: str, *best: int) -> str:
        hits = [retriever.hit(p, 1.0) for p in best]
        context = small_assistant.build_context("问题？", language, hits, [])
        assert context.layout == mode
        return context.messages[-1]["content"]
    assert turn("zh-Hans", english, chinese).endswith(P.ANSWER_ACROSS["zh-Hans"] + "）")
    assert turn("zh-Hant", english).endswith(P.ANSWER_ACROSS["zh-Hant"] + "）")
    assert turn("zh-Hans", chinese, english).endswith(P.ANSWER_IN["zh-Hans"] + "）")
    assert turn("en", chinese).endswith(P.ANSWER_IN["en"] + ")")


def test_provenance_resolves_article_footnotes_to_source_documents(small_assistant):
    data = small_assistant.data
    position = next(i for i, c in enumerate(data.chunks) if c.doc_id == "article" and 5 in c.cites)
    sources = Assembler(small_assistant.data, small_assistant.retriever, "").provenance(position)
    numbers = [s["number"] for s in sources]
    assert 5 in numbers
    five = next(s for s in sources if s["number"] == 5)
    assert five["doc_id"] == "source-5" and five["site"] == "cloud.google.com"
    assert five["snippet"].startswith("Introducing Gemma 4 on Google Cloud")


def test_the_best_passage_is_named_in_chinese_questions_only(small_assistant):
    s = small_assistant.settings
    s.context_mode = "full"
    s.n_ctx = 32768             # the counter's 1 token per 2 characters overcounts English text
    hits = small_assistant.retriever.search("Gemma 4 许可证 Apache 2.0", 5).hits
    best = small_assistant.data.position(hits[0].chunk_id) + 1
    zh = small_assistant.build_context("Gemma 4 采用什么许可证？", "zh-Hans", hits, []).messages[-1]["content"]
    en = small_assistant.build_context("What license does Gemma 4 use?", "en", hits, []).messages[-1]["content"]
    assert f"参考[{best}]" in zh
    assert "[" not in en                       # English: no hint, a shorter turn to read
    s.hint_english = True
    en = small_assistant.build_context("What license does Gemma 4 use?", "en", hits, []).messages[-1]["content"]
    assert f"see [{best}]" in en
