import pytest

from conftest import cesu8
from rag.config import Settings
from rag.errors import IngestError
from rag.ingest import shipped_documents
from rag.readtext import decode_bytes
from rag.sources import expand_sources
from rag.text import footnotes

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
    (tmp_path / "a.xlsx").write_bytes(b"PK")
    (tmp_path / "ok.md").write_text("# hi\n\nsome text here", encoding="utf-8")
    result = dict(expand_sources([str(tmp_path / "nope.txt"), str(tmp_path / "a.xlsx"), str(tmp_path)]))
    assert "no such file" in result[str(tmp_path / "nope.txt")]
    assert "not supported" in result[str(tmp_path / "a.xlsx")]
    assert result[str(tmp_path / "ok.md")] is None


SIMPLIFIED = "谷歌开放了 Gemma 4 模型，开发者可以下载并在自己的电脑上运行。这份笔记用来测试中文编码的读取是否正确。\n"
TRADITIONAL = "谷歌開放了 Gemma 4 模型，開發者可以下載並在自己的電腦上執行。這份筆記用來測試中文編碼的讀取是否正確。\n"


@pytest.mark.parametrize("codec,text", [("utf-16-le", SIMPLIFIED), ("utf-16-be", TRADITIONAL),
                                        ("utf-16-le", "开放模型一下开发者可以下载电脑运行"),   # no ASCII: a NUL only in 开/一
                                        ("utf-16-be", "開放模型開發者可以下載電腦執行")])
def test_decode_utf16_without_bom(codec, text):
    assert decode_bytes(text.encode(codec), "x") == text


_cesu8 = cesu8


def test_decode_cesu8_pairs_surrogates_and_refuses_lone_halves():
    text = "团队的笔记😀写得很好🎉\n" * 4
    assert decode_bytes(_cesu8(text), "x") == text
    with pytest.raises(IngestError, match=r"surrogate halves that do not pair up .*; save it as UTF-8"):
        decode_bytes(("开放" + chr(0xD83D) + "模型\n").encode("utf-8", "surrogatepass") * 5, "x")


def test_decode_refuses_a_reading_of_mostly_unlikely_characters():
    # UTF-8 Chinese with one stray GBK character is not UTF-8; its bytes also read as valid
    # GB18030 (characters chosen so that they do), which would be mojibake: 璋锋瓕鏀句簡...
    chars = [c for c in dict.fromkeys(SIMPLIFIED + TRADITIONAL) if "\u4e00" <= c <= "\u9fff" and 0x80 not in c.encode()]
    data = " ".join("".join(chars[i:i + 4]) for i in range(0, len(chars) - 3, 4)).encode() * 3
    data = data[:30] + " 啊 ".encode("gbk") + data[30:]
    data.decode("gb18030")                                   # a strict GB18030 reading exists
    with pytest.raises(IngestError, match=r"neither UTF-8, GBK nor Big5 \(read as any of them it comes out as mostly "
                                          r"rare or unassigned characters\); save it as UTF-8"):
        decode_bytes(data, "x")
    with pytest.raises(IngestError, match="neither UTF-8, GBK nor Big5"):
        decode_bytes("これは日本語の文章です。漢字と仮名が混ざっています。".encode("shift_jis") * 3, "x")


GBK_ONLY = "王喆说，镕基金会的许可证允许商业使用。"         # 喆 and 镕 are in GBK, not in GB2312


@pytest.mark.parametrize("head,codec,text", [
    ('<meta charset="gb2312">', "gbk", GBK_ONLY + SIMPLIFIED),
    ('<meta http-equiv="Content-Type" content="text/html; charset=GBK">', "gbk", SIMPLIFIED),
    ("<meta charset='big5'>", "cp950", TRADITIONAL),
    ('<meta http-equiv="content-type" content="text/html;charset=x-big5">', "big5", TRADITIONAL),
    ('<?xml version="1.0" encoding="GB18030"?>', "gb18030", SIMPLIFIED + "𠮷"),
    ('<meta charset="windows-1252">', "cp1252", "Café – naïve “quotes” déjà vu, 80 °C.\n"),
    ('<meta charset="gb2312">', "utf-8", TRADITIONAL),          # saved again as UTF-8, old declaration kept
])
def test_html_decodes_by_its_declared_charset(head, codec, text):
    html = f"<html><head>{head}<title>t</title></head><body><p>{text}</p></body></html>"
    assert decode_bytes(html.encode(codec), "page.html") == html


def test_declared_charset_argument_wins_over_guessing():
    assert decode_bytes("Café ünïcode".encode("cp1252"), "u", declared="ISO-8859-1") == "Café ünïcode"
    assert decode_bytes(GBK_ONLY.encode("gbk"), "u", declared="gb2312") == GBK_ONLY
    # a charset that is not a text encoding is ignored, not obeyed
    assert decode_bytes(b"<meta charset=unicode_escape><p>\\u4e2d</p>", "u") == "<meta charset=unicode_escape><p>\\u4e2d</p>"


def test_reflow_joins_wrapped_lines_and_keeps_short_ones():
    from rag.article import reflow
    raw = ("        Title Line\n     Version 1\n\n   1. Terms. This sentence is wrapped at a fixed width so it\n"
           "      goes on here.\n")
    assert reflow(raw) == ("Title Line\nVersion 1\n\n1. Terms. This sentence is wrapped at a fixed width so it "
                           "goes on here.\n")
