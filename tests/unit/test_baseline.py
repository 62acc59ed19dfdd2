"""The plain baseline of `rag eval --baseline`: the article pasted into one chat turn."""
from types import SimpleNamespace

from rag.devtools.baseline import article_text, ask_baseline, baseline_messages
from rag.types import Document
from tests.fakes import FakeChatModel


def _data(*docs):
    return SimpleNamespace(documents={d.doc_id: d for d in docs})


def test_the_article_alone_is_pasted_before_the_question():
    data = _data(Document("article", "Gemma 4", "Gemma 4 于 2026 年 3 月 31 日发布。", kind="article"),
                 Document("s1", "Blog", "not the article", kind="source"))
    article = article_text(data)
    assert "3 月 31 日" in article and "not the article" not in article
    content = baseline_messages(article, "When was it released?", "en")[0]["content"]
    assert content.index("3 月 31 日") < content.index("When was it released?")
    # With no article in the corpus, every document is pasted.
    assert "not the article" in article_text(_data(Document("s1", "Blog", "not the article", kind="source")))


def test_a_reply_with_the_marker_is_a_refusal_and_the_marker_is_not_scored_as_text():
    llm = FakeChatModel("Not_FOUND[1]")
    answer = ask_baseline(llm, "article text", "What is the price?", "en", 64)
    assert answer.refused and "FOUND" not in answer.answer and "article text" in llm.prompt
    answer = ask_baseline(FakeChatModel("It was released on March 31."), "article", "When?", "en", 64)
    assert not answer.refused and answer.answer == "It was released on March 31." and answer.citations == []
