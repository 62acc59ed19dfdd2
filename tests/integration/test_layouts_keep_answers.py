"""Whatever layout the corpus size selects, the shipped questions keep their answers: the
same questions asked with the whole corpus cached (`full`) and with only the top-k chunks in
the turn (`retrieval`, what a grown corpus used to fall back to) give the same facts, cited."""
import re

import pytest

from conftest import requires_real
from rag.chat import Assistant
from rag.config import Settings

pytestmark = [pytest.mark.integration, requires_real]

QUESTIONS = [
    ("Gemma 4 采用什么许可证？", ["Apache 2.0"]),
    ("Gemma 4 支援多長的上下文視窗？", ["256K"]),
    ("Which model sizes does Gemma 4 come in?", ["E2B", "E4B", "31B", "26B A4B"]),
]


@pytest.fixture(scope="module")
def retrieval_assistant(assistant):
    a = Assistant(Settings.from_env(context_mode="retrieval"), embedder=assistant.embedder, llm=assistant.llm)
    assert a.layout() == "retrieval"
    return a


@pytest.mark.parametrize("question,facts", QUESTIONS)
def test_shipped_questions_keep_their_answers_in_the_retrieval_layout(retrieval_assistant, question, facts):
    a = retrieval_assistant.ask(question)
    assert a.context.layout == "retrieval"
    assert not a.refused, a.answer
    for fact in facts:
        assert fact in a.answer, (fact, a.answer)
    used = {int(n) for n in re.findall(r"\[(\d+)\]", a.answer)}
    assert used and used <= {c.n for c in a.citations}
    assert any(facts[0] in c.text for c in a.citations)


def test_a_retrieval_prompt_is_read_after_its_own_system_turn(assistant, retrieval_assistant):
    """With the whole corpus cached, a prompt whose system turn is another one (the retrieval
    layout's) is read from its own text, not after the cached corpus."""
    assistant.warm()
    llm = assistant.llm
    corpus_prefix = llm.system_prefix(assistant.full_prompt()[0])
    assert llm.prompt_prefix_tokens(corpus_prefix) is llm.prefix_tokens      # cached: not tokenized again
    question = QUESTIONS[0][0]
    hits = retrieval_assistant.retriever.search(question).hits
    prefix, _ = llm.split_prefix(retrieval_assistant.build_context(question, "zh-Hans", hits, []).messages)
    assert prefix and prefix != corpus_prefix
    assert llm.prompt_prefix_tokens(prefix) == llm.tokenize(prefix) != llm.prefix_tokens
