"""Retrieval on the real embedder and index: every language finds the evidence."""
import json

import pytest

from conftest import ROOT, requires_real
from rag.devtools.evaluate import rank_of_evidence

pytestmark = [pytest.mark.integration, requires_real]

ITEMS = [json.loads(l) for l in (ROOT / "eval" / "dev.jsonl").read_text(encoding="utf-8").splitlines() if l.strip()]


@pytest.mark.parametrize("language", ["zh-Hans", "zh-Hant", "en"])
def test_evidence_at_5_on_a_fixed_subset(assistant, language):
    subset = [i for i in ITEMS if i["in_scope"] and i["language"] == language][:12]
    found = [rank_of_evidence(assistant.retriever.search(i["question"], 5).hits, i["evidence"]) for i in subset]
    misses = [i["id"] for i, r in zip(subset, found) if r is None]
    assert len(misses) <= 1, misses


def test_english_question_finds_evidence_that_exists_only_in_chinese(assistant):
    hits = assistant.retriever.search("How many languages does Gemma 4 support?", 5).hits
    assert any("140 多种语言" in h.text for h in hits)


def test_traditional_and_simplified_questions_retrieve_alike(assistant):
    simplified = [h.chunk_id for h in assistant.retriever.search("Gemma 4 的上下文窗口有多长？", 3).hits]
    traditional = [h.chunk_id for h in assistant.retriever.search("Gemma 4 的上下文視窗有多長？", 3).hits]
    assert simplified[0] == traditional[0]


@pytest.mark.parametrize("question", ["", "   ", "🤔🤔🤔", "ꦲꦤꦕꦫꦏ ꦢꦠꦱꦮꦭ", "x" * 100_000])
def test_odd_questions_get_a_message_or_a_refusal(assistant, question):
    from rag.errors import QuestionError
    try:
        a = assistant.ask(question)
    except QuestionError as e:
        assert "question" in str(e)
        return
    assert a.refused


@pytest.mark.parametrize("slip", ["which devices can run gemma 4, a raspbery pi too?", "Gemma 4 能在树梅派上运行吗？"])
def test_a_typing_slip_finds_what_the_right_spelling_finds(assistant, slip):
    hits = assistant.retriever.search(slip, 3).hits
    assert any("Raspberry Pi" in h.text for h in hits)
