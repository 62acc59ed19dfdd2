"""HTML extraction and the per-document limits: a page that is mostly links or a text
that is mostly markup symbols is refused, while real articles (with their menus, inline
links, short Chinese notes, tables) are kept; a large embedding run says how long it
will take."""
from __future__ import annotations

import numpy as np
import pytest

from rag import ingest as ingest_module
from rag.errors import IngestError
from rag.readtext import refuse_wordless
from rag.webpage import _link_letters, html_to_document

ARTICLE_ZH = ["谷歌在三月底发布了新一代开放模型，开发者可以下载权重并在自己的电脑上运行。",
              "这次的许可证改为更宽松的条款，企业可以把模型用在商业产品里，不必另外申请授权。",
              "模型提供从手机到服务器的多个尺寸，小尺寸版本能在笔记本电脑上流畅地回答问题。",
              "评论认为，这一步是为了让更多开发者先用起来，再把生态留在自己的平台上。"]
# A Chinese portal's menu: hundreds of links made of the same common characters as the article.
MENU_ZH = [f"{a}{b}新闻" for a in "国际国内财经科技体育娱乐汽车房产教育健康" for b in "开发模型电脑服务产品平台"]


def _page(paragraphs: list[str], menu: list[str], inline_link: bool = False) -> str:
    nav = "".join(f"<li><a href='/c{i}'>{m}</a></li>" for i, m in enumerate(menu))
    body = "".join(f"<p>{p}{' <a href=/more>了解更多</a>' if inline_link else ''}</p>" for p in paragraphs)
    return (f"<html><head><title>开放模型</title></head><body><header><nav><ul>{nav}</ul></nav></header>"
            f"<article><h1>开放模型的新版本</h1>{body}</article><footer><ul>{nav}</ul></footer></body></html>")


def test_chinese_article_beside_a_large_menu_of_common_characters_is_kept():
    html = _page(ARTICLE_ZH * 2, MENU_ZH, inline_link=True)
    doc = html_to_document(html, "portal.html", None)
    assert "许可证改为更宽松的条款" in doc.text
    link, rest = _link_letters(html, doc.text)
    assert rest > 3 * link, (link, rest)


def test_menu_only_page_is_refused_with_its_link_share():
    html = _page([], [f"Link number {i} of the menu" for i in range(400)])
    with pytest.raises(IngestError, match=r"menu\.html: no readable article text in the page \(100% of its"):
        html_to_document(html, "menu.html", None)


def test_links_count_only_where_their_whole_text_appears():
    html = "<p><a href=/a>Home</a> <a href=/b>About us</a></p>"
    assert _link_letters(html, "Home\nAbout us\nWe write about home brewing.") == (len("HomeAboutus"),
                                                                                  len("Wewriteabouthomebrewing"))
    # a link repeated once on the page is counted once, even if its words repeat in the text
    assert _link_letters(html, "Home Home Home") == (4, 8)


@pytest.mark.parametrize("text", ["#\n\n---\n\n> \n\n***\n" * 20, "- - -\n> >\n" * 50, "=== ### ===\n"])
def test_text_of_markup_symbols_only_is_refused(text):
    with pytest.raises(IngestError, match=r"notes\.md: the text is nearly all markup symbols .*; add the words"):
        refuse_wordless(text, "notes.md")


@pytest.mark.parametrize("text", ["买牛奶\n", "# Title\n\n---\n\n> a quoted line with words\n",
                                  "| a | b |\n|---|---|\n| 1 | 2 |\n", "# 笔记\n\n- 第一条\n- 第二条\n"])
def test_short_notes_tables_and_lists_are_kept(text):
    refuse_wordless(text, "notes.md")


class _CountingEmbedder:
    def passages(self, texts):
        return np.zeros((len(texts), 384), dtype=np.float32)


def test_a_large_embedding_run_says_how_long_it_will_take(capsys):
    vectors = ingest_module._embed(_CountingEmbedder(), ["chunk"] * 300, progress=False)
    assert vectors.shape == (300, 384)
    lines = [l for l in capsys.readouterr().err.splitlines() if l.startswith("embedding ")]
    assert len(lines) == 1 and lines[0].startswith("embedding 300 chunks: 32 done, about ")
    assert lines[0].endswith("chunks/s") and " left at " in lines[0]


def test_a_small_embedding_run_stays_quiet(capsys):
    ingest_module._embed(_CountingEmbedder(), ["chunk"] * 100, progress=False)
    assert "embedding" not in capsys.readouterr().err
