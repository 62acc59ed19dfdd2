"""Documents a user adds: a generated HTML page (Chinese and English) is answered from
right after ingest, with a citation to it; unchanged re-ingest is skipped; a changed
file replaces its chunks. Runs on a copy of the real index, with the real embedder."""
import shutil

import pytest

from conftest import requires_real
from rag.chat import Assistant
from rag.config import Settings
from rag.ingest import ingest

pytestmark = [pytest.mark.integration, requires_real]

PAGE = """<!doctype html><html><head><title>{title}</title></head><body>
<nav><a href="/">首页</a> <a href="/about">关于</a></nav>
<article><h1>{title}</h1>{paragraphs}</article>
<footer>© 2026 示例站点</footer></body></html>"""


def _page(title, paragraphs):
    return PAGE.format(title=title, paragraphs="".join(f"<p>{p}</p>" for p in paragraphs))


@pytest.fixture
def user_settings(tmp_path, assistant):
    index = tmp_path / "index"
    shutil.copytree(assistant.settings.index_dir, index, symlinks=True)
    return Settings.from_env(index_dir=index)


def test_added_html_page_is_answered_with_a_citation_to_it(user_settings, assistant, tmp_path):
    zh = tmp_path / "lab-notes.html"
    zh.write_text(_page("青柠实验室的 Gemma 4 部署笔记", [
        "青柠实验室在 2026 年 5 月用 Gemma 4 E4B 搭建了内部客服助手。",
        "团队测得这个助手在一台笔记本上每秒生成 38 个词元,部署只用了 3 天。",
        "实验室负责人王晓明说,选择 Gemma 4 的主要原因是 Apache 2.0 许可便于商业使用。"]), encoding="utf-8")
    en = tmp_path / "bakery.html"
    en.write_text(_page("How Lumen Bakery used Gemma 4", [
        "Lumen Bakery in Porto deployed Gemma 4 E2B on a tablet at the counter in June 2026.",
        "The owner, Marta Silva, says the assistant answers allergy questions in eleven languages.",
        "The bakery chose the model because it runs offline without a monthly fee."]), encoding="utf-8")
    report = ingest(user_settings, [str(zh), str(en)], embedder=assistant.embedder, progress=False)
    assert report.ok and len(report.added) == 2
    user = Assistant(user_settings, llm=assistant.llm, embedder=assistant.embedder)

    a = user.ask("青柠实验室的助手部署用了几天？")
    assert not a.refused and "3" in a.answer
    assert any(c.doc_id == report.added[0] and "3 天" in c.text for c in a.citations)

    b = user.ask("Which city is Lumen Bakery in?")
    assert not b.refused and "Porto" in b.answer
    assert any(c.doc_id == report.added[1] for c in b.citations)

    again = ingest(user_settings, [str(zh), str(en)], embedder=assistant.embedder, progress=False)
    assert sorted(again.skipped) == sorted(report.added) and not again.added


def test_changed_page_replaces_its_chunks(user_settings, assistant, tmp_path):
    page = tmp_path / "changing.html"
    page.write_text(_page("Release notes of Orchid Tools", ["Orchid Tools version 7 supports Gemma 4 E2B on Raspberry Pi.",
                                                            "The release date of version 7 was March 3, 2026."]),
                    encoding="utf-8")
    first = ingest(user_settings, [str(page)], embedder=assistant.embedder, progress=False)
    page.write_text(_page("Release notes of Orchid Tools", ["Orchid Tools version 8 supports Gemma 4 E4B on Jetson Nano.",
                                                            "The release date of version 8 was May 9, 2026."]),
                    encoding="utf-8")
    second = ingest(user_settings, [str(page)], embedder=assistant.embedder, progress=False)
    assert second.updated == first.added
    user = Assistant(user_settings, llm=assistant.llm, embedder=assistant.embedder)
    texts = [c.text for c in user.data.chunks if c.doc_id == first.added[0]]
    assert any("version 8" in t for t in texts) and not any("version 7" in t for t in texts)
