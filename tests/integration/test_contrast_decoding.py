"""Context-aware decoding (rag/generate.py ContrastDecoder) on the real model: with strength 0
it is greedy decoding, token for token; with strength > 0 it still answers from the cached
corpus, and the KV cache is left as plain decoding expects (sequence 1 empty, the next plain
answer unchanged)."""
import pytest

from conftest import requires_real
from rag import prompt as P
from rag.llm import GenStats

pytestmark = [pytest.mark.integration, requires_real]

QUESTION = "Gemma 4 采用什么许可证？"


def _turns(assistant):
    standalone, retrieval = assistant.resolve(QUESTION, [])
    context = assistant.build_context(QUESTION, "zh-Hans", retrieval.hits, [])
    plain = [{"role": "system", "content": P.SYSTEM_RULES}, *context.messages[1:]]
    return context.messages, plain


def test_strength_zero_is_greedy_decoding_and_the_cache_stays_usable(assistant):
    messages, plain = _turns(assistant)
    assistant.warm()
    greedy = "".join(assistant.llm.stream_messages(messages, 48, GenStats()))
    stats = GenStats()
    contrast = "".join(assistant.llm.stream_contrast(messages, plain, 0.0, 48, stats))
    assert contrast == greedy and "Apache" in greedy
    assert stats.completion_tokens > 3 and stats.cached_tokens > 1000    # read after the cached corpus
    assert "".join(assistant.llm.stream_messages(messages, 48, GenStats())) == greedy


def test_contrast_still_answers_from_the_documents(assistant):
    messages, plain = _turns(assistant)
    assistant.warm()
    text = "".join(assistant.llm.stream_contrast(messages, plain, 0.5, 48, GenStats()))
    assert "Apache" in text and "2.0" in text
