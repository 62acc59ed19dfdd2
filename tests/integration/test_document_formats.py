"""The documents people actually have, made here at test time: a two-page Chinese PDF printed
by headless Chromium (embedded CJK fonts), a Word file with English and Traditional Chinese
paragraphs written with python-docx, and old web pages declared GB2312 and Big5. Each is
ingested into a copy of the real index, retrieved in all three scripts, and answered with a
citation to it (the PDF's with its page). Runs the real model, embedder and index."""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import requires_real
from rag.chat import Assistant
from rag.config import Settings
from rag.ingest import ingest

pytestmark = [pytest.mark.integration, requires_real]

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)

PDF_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>星河模型许可说明</title>
<style>body { font-family: "Noto Sans CJK SC", sans-serif; font-size: 13pt; }
.next { page-break-before: always; }</style></head><body>
<h1>星河模型许可说明</h1>
<p>青柠实验室在 2026 年 5 月发布了名为星河的小型语言模型。它采用 Apache 2.0 许可，允许商业使用、修改和再分发，
使用者必须保留原始的版权声明。</p>
<h2 class="next">部署</h2>
<p>星河模型的部署只需要一台内存为 16 GB 的笔记本电脑。团队测得星河模型每秒可以生成 42 个词元。</p>
<p>整个部署过程用了 3 天，由实验室的两名工程师完成。</p>
</body></html>"""

OLD_PAGE = ("<html><head><meta http-equiv='Content-Type' content='text/html; charset={charset}'>"
            "<title>{title}</title></head><body><div class='nav'><a href='/'>{home}</a></div>"
            "<div class='main'><h1>{title}</h1>{paragraphs}</div></body></html>")


def _print_pdf(html_path: Path, pdf_path: Path) -> None:
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                        "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
                        "--no-pdf-header-footer", f"--print-to-pdf={pdf_path}", html_path.as_uri()],
                       check=True, capture_output=True, timeout=120)


def _docx(path: Path) -> None:
    import docx
    d = docx.Document()
    d.add_heading("Orchid Tools 使用條款", level=1)
    d.add_paragraph("Orchid Tools version 8 runs on a Jetson Nano board and was released on May 9, 2026.")
    d.add_paragraph("蘭花工具第 8 版的技術支援將於 2028 年 12 月結束，之後不再提供安全更新。")
    d.save(path)


def _old_page(path: Path, charset: str, codec: str, title: str, home: str, paragraphs: list[str]) -> None:
    html = OLD_PAGE.format(charset=charset, title=title, home=home,
                           paragraphs="".join(f"<p>{p}</p>" for p in paragraphs))
    path.write_bytes(html.encode(codec))


@pytest.fixture(scope="module")
def formats(assistant, tmp_path_factory):
    """The four documents ingested into a copy of the real index; (assistant, doc ids)."""
    if CHROMIUM is None:
        pytest.skip("headless Chromium is not installed (make browser-deps), so no PDF can be printed")
    root = tmp_path_factory.mktemp("formats")
    (root / "licence.html").write_text(PDF_PAGE, encoding="utf-8")
    _print_pdf(root / "licence.html", root / "xinghe.pdf")
    _docx(root / "orchid.docx")
    _old_page(root / "songfeng.htm", "gb2312", "gbk", "松风茶社的离线助手", "首页",
              ["松风茶社在杭州经营三家茶馆，去年开始用 Gemma 4 E2B 做离线点单助手。",
               "店主说，这个离线助手让松风茶社每月节省 1200 元的云服务费用。"])
    _old_page(root / "zhulin.htm", "big5", "cp950", "竹林書院的教學助手", "首頁",
              ["竹林書院在 2026 年 4 月把 Gemma 4 部署在 12 台教室電腦上，學生可以離線提問。",
               "書院的老師表示，模型的授權讓學校不必支付任何授權費用。"])
    index = root / "index"
    shutil.copytree(assistant.settings.index_dir, index, symlinks=True)
    settings = Settings.from_env(index_dir=index)
    files = {name: root / f for name, f in (("pdf", "xinghe.pdf"), ("docx", "orchid.docx"),
                                            ("gb2312", "songfeng.htm"), ("big5", "zhulin.htm"))}
    report = ingest(settings, [str(p) for p in files.values()], embedder=assistant.embedder, progress=False)
    assert report.ok and len(report.added) == 4, report.failed
    user = Assistant(settings, llm=assistant.llm, embedder=assistant.embedder)
    ids = {name: next(d for d, doc in user.data.documents.items() if doc.origin == str(path.resolve()))
           for name, path in files.items()}
    return user, ids


def test_documents_are_read_whole_and_in_their_script(formats):
    user, ids = formats
    docs = user.data.documents
    pdf = docs[ids["pdf"]]
    assert pdf.kind == "pdf" and pdf.language == "zh-Hans" and len(pdf.meta["page_starts"]) == 2
    assert "星河模型每秒可以生成 42 个词元" in pdf.text and "青柠实验室" in pdf.text    # no radical look-alikes (⻘)
    assert pdf.pages_of(pdf.text.index("42 个词元"), pdf.text.index("42 个词元") + 5) == (2, 2)
    assert "Jetson Nano" in docs[ids["docx"]].text and "技術支援將於 2028 年 12 月結束" in docs[ids["docx"]].text
    assert "每月节省 1200 元" in docs[ids["gb2312"]].text and docs[ids["gb2312"]].language == "zh-Hans"
    assert "部署在 12 台教室電腦上" in docs[ids["big5"]].text and docs[ids["big5"]].language == "zh-Hant"


RETRIEVE = {
    "pdf": ["星河模型每秒可以生成多少个词元？", "星河模型每秒可以生成多少個詞元？", "How many tokens per second does 星河 generate?"],
    "docx": ["兰花工具第 8 版的技术支持什么时候结束？", "蘭花工具第 8 版的技術支援何時結束？", "Which board does Orchid Tools version 8 run on?"],
    "gb2312": ["松风茶社每月节省多少云服务费用？", "松風茶社每月節省多少雲端服務費用？", "How much does 松风茶社 save on cloud fees each month?"],
    "big5": ["竹林书院把 Gemma 4 部署在几台教室电脑上？", "竹林書院把 Gemma 4 部署在幾台教室電腦上？",
             "On how many classroom computers did 竹林書院 deploy Gemma 4?"],
}


@pytest.mark.parametrize("name", list(RETRIEVE))
def test_each_document_is_retrieved_in_all_three_scripts(formats, name):
    user, ids = formats
    for question in RETRIEVE[name]:
        result = user.retriever.search(question, k=5)
        assert result.relevant, (question, result.reason)
        assert ids[name] in [h.doc_id for h in result.hits[:3]], (question, [h.title for h in result.hits])


ASK = [  # (document, question, language, what the answer must hold)
    ("pdf", "星河模型每秒可以生成多少个词元？", "zh-Hans", ["42"]),
    ("docx", "Which board does Orchid Tools version 8 run on?", "en", ["Jetson Nano"]),
    ("docx", "蘭花工具第 8 版的技術支援何時結束？", "zh-Hant", ["2028"]),
    ("gb2312", "松风茶社每月节省多少云服务费用？", "zh-Hans", ["1200", "1,200"]),
    ("big5", "竹林書院把 Gemma 4 部署在幾台教室電腦上？", "zh-Hant", ["12"]),
]


@pytest.mark.parametrize("name,question,language,facts", ASK, ids=[f"{a[0]}-{a[2]}" for a in ASK])
def test_fact_from_each_document_is_answered_with_a_citation_to_it(formats, name, question, language, facts):
    user, ids = formats
    answer = user.ask(question)
    assert not answer.refused and answer.language == language, answer.answer
    assert any(f in answer.answer for f in facts), answer.answer
    cited = [c for c in answer.citations if c.doc_id == ids[name]]
    assert cited, (answer.answer, [c.title for c in answer.citations])
    if name == "pdf":
        assert any(c.page == 2 and "42" in c.text for c in cited), cited
    else:
        assert all(c.page is None for c in cited)
