from pathlib import Path

import pytest

from rag.config import Settings
from rag.errors import IngestError
from rag.ingest import shipped_documents
from rag.sources import decode_bytes, expand_sources, footnotes

CHROME = ["studioglobal", "热门发现", "答案已发布", "3.4K0", "AI 提示", "Create a landscape", "人们还问",
          "简短答案是什么", "Claude Security", "Grok 4.3", "打开相关页面", "继续你的研究", "Studio Global AI",
          "Search, cite, and publish", "openai.com", "示意圖", "TechNews"]


@pytest.fixture(scope="module")
def docs():
    return shipped_documents(Settings.from_env())


def test_cleaning_removes_page_chrome(docs):
    article = docs[0]
    for fragment in CHROME:
        assert fragment not in article.text, fragment


def test_cleaning_keeps_title_body_key_points_and_source_list(docs):
    text = docs[0].text
    assert text.startswith("Google 为什么开放 Gemma 4:从 Apache 2.0 看 AI 平台战")
    assert "Gemma 4 于 2026 年 3 月 31 日发布" in text
    assert "先让开发者用起来,再让生态留下来。" in text
    assert "要点" in text and "这是一场平台分发战" in text
    assert "[12] Gemma 4: Expanding the Gemmaverse with Apache 2.0 (opensource.googleblog.com)" in text


def test_all_eight_sources_become_documents(docs):
    sources = [d for d in docs if d.kind == "source"]
    assert [d.meta["number"] for d in sources] == [1, 3, 4, 5, 6, 7, 10, 12]
    by_number = {d.meta["number"]: d for d in sources}
    assert by_number[1].title == "Gemma releases | Google AI for Developers"
    assert by_number[1].site == "ai.google.dev"
    assert "Release of Gemma 4 in E2B, E4B, 31B and 26B A4B sizes" in by_number[1].text
    assert by_number[10].site == "engadget.com"
    assert all(d.language == "en" for d in sources)


def test_article_markers_resolve_to_source_documents(docs):
    article = docs[0]
    mapping = article.meta["sources"]
    ids = {d.doc_id for d in docs}
    for n in footnotes(article.text):
        assert mapping[str(n)] in ids
    assert mapping["5"] == "source-5"


def test_decode_handles_gbk_big5_and_bom():
    text = "谷歌开放了模型，开发者可以下载。"
    assert decode_bytes(text.encode("gbk"), "x") == text
    trad = "谷歌開放了模型，開發者可以下載使用。"
    assert decode_bytes(trad.encode("big5"), "x") == trad
    assert decode_bytes(b"\xef\xbb\xbf" + text.encode(), "x") == text


def test_decode_rejects_binary():
    with pytest.raises(IngestError, match="binary"):
        decode_bytes(b"\x00\x01\x02PK\x03\x04" * 100, "blob.txt")


def test_expand_sources_reports_missing_and_unsupported(tmp_path):
    (tmp_path / "a.pdf").write_bytes(b"%PDF")
    (tmp_path / "ok.md").write_text("# hi\n\nsome text here", encoding="utf-8")
    result = dict(expand_sources([str(tmp_path / "nope.txt"), str(tmp_path / "a.pdf"), str(tmp_path)]))
    assert "no such file" in result[str(tmp_path / "nope.txt")]
    assert "not supported" in result[str(tmp_path / "a.pdf")]
    assert result[str(tmp_path / "ok.md")] is None
