from rag.chunk import chunk_document
from rag.config import Settings
from rag.ingest import shipped_documents
from rag.types import Document


def _doc(text, kind="note"):
    return Document(doc_id="d", title="t", text=text, kind=kind)


def test_offsets_round_trip_to_exact_text():
    for doc in shipped_documents(Settings.from_env()):
        chunks = chunk_document(doc, 220, 40)
        assert chunks, doc.doc_id
        for c in chunks:
            assert doc.text[c.start:c.end] == c.text
            assert c.text.strip() == c.text and c.text


def test_splits_at_chinese_sentence_ends_and_keeps_footnotes_with_claim():
    text = "第一句很长的中文句子讲的是许可协议。[3][5] 第二句讲的是模型尺寸！第三句问为什么？" * 4
    chunks = chunk_document(_doc(text, kind="article"), size=60, overlap=0)
    assert len(chunks) > 1
    for c in chunks:
        assert c.text[-1] in "。！？]"
        assert not c.text.startswith("[")
    assert chunks[0].cites == [3, 5]


def test_half_width_colon_after_chinese_is_a_boundary():
    text = "Google Cloud 的说法更像一份产品定位说明:" + "Gemma 4 建立在相同的研究基础上。" * 6
    chunks = chunk_document(_doc(text), size=30, overlap=0)
    assert chunks[0].text == "Google Cloud 的说法更像一份产品定位说明:"


def test_headings_start_chunks_and_no_empty_chunks():
    text = "标题一\n\n" + "这是第一段的内容。" * 3 + "\n\n标题二\n\n" + "第二段内容在这里。" * 3 + "\n\n\n\n"
    chunks = chunk_document(_doc(text), size=200, overlap=0)
    assert [c.text.split("\n")[0] for c in chunks] == ["标题一", "标题二"]
    assert all(c.text.strip() for c in chunks)


def test_a_run_of_separator_characters_is_no_chunk():
    """Licence texts rule sections off with lines of dashes or stars (the MPL in
    /usr/share/common-licenses): such a line is no chunk of its own, text around it is kept."""
    rule = "*" * 72
    text = ("1. Definitions. The Covered Code is the Original Code.\n\n" + rule + "\n\n" + "-" * 15 +
            "\n\n2. Grant. The Initial Developer hereby grants a licence.\n\n____\n\n")
    chunks = chunk_document(_doc(text), size=60, overlap=0)
    assert chunks and all(any(ch.isalnum() for ch in c.text) for c in chunks)
    assert any("Covered Code" in c.text for c in chunks) and any("hereby grants" in c.text for c in chunks)


def test_chunk_ids_are_stable_content_hashes():
    doc = _doc("A sentence here. Another one there. " * 20)
    first = [c.chunk_id for c in chunk_document(doc, 100, 20)]
    assert first == [c.chunk_id for c in chunk_document(doc, 100, 20)]
    changed = _doc(doc.text.replace("Another", "A different"))
    assert first != [c.chunk_id for c in chunk_document(changed, 100, 20)]


def test_long_sentence_without_punctuation_is_cut():
    chunks = chunk_document(_doc("字" * 1000), size=200, overlap=0)
    assert all(len(c.text) <= 200 for c in chunks)
    assert sum(len(c.text) for c in chunks) == 1000


def _licence():
    return next(d for d in shipped_documents(Settings.from_env()) if d.kind == "licence")


def test_licence_is_shipped_verbatim_with_its_version_and_url():
    import json
    from pathlib import Path
    doc = _licence()
    corpus = Path(Settings.from_env().corpus_dir)
    entry = next(e for e in json.loads((corpus / "manifest.json").read_text())["documents"] if e["id"] == doc.doc_id)
    assert (entry["url"], entry["version"], entry["date"]) == (
        "https://www.apache.org/licenses/LICENSE-2.0", "2.0", "January 2004")
    raw = (corpus / entry["file"]).read_text()
    assert raw.split() == doc.text.split()          # reflowed, not reworded
    assert doc.meta["shipped"] and doc.language == "en"


def test_licence_chunks_carry_their_section():
    chunks = chunk_document(_licence(), 220, 40)
    by_text = {c.text[:40]: c.section for c in chunks}
    assert by_text["(b) You must cause any modified files to c"[:40]] == "Section 4(b)"
    assert any(s == "Section 4(d)" and t.startswith("(d) If the Work includes") for t, s in by_text.items())
    # prose after the lettered items belongs to the clause again
    assert any(s == "Section 4" and t.startswith("You may add Your own copyright") for t, s in by_text.items())
    assert any(s == "Section 6" and "Trademarks" in t for t, s in by_text.items())
    assert any(s == "Appendix" for s in by_text.values())
    # no chunk crosses a clause: each lettered item is its own chunk
    for c in chunks:
        assert c.text.count("(b) You must") <= 1 and not ("(a) You must" in c.text and "(b) You must" in c.text)
    assert min(len(c.text) for c in chunks if c.section) >= 40    # no comma-cut scraps on their own


def test_numbered_clauses_label_any_legal_text_and_prose_gets_none():
    text = ("1. Scope. This agreement covers the software.\n\n2. Payment. You pay monthly.\n\n"
            "(a) Invoices are sent by mail.\n\n(b) Late fees apply.\n\nOther terms follow.")
    chunks = chunk_document(_doc(text), size=200, overlap=0)
    assert [c.section for c in chunks] == ["Section 1", "Section 2", "Section 2(a)", "Section 2(b)", "Section 2"]
    assert {c.section for c in chunk_document(_doc("一段普通的文字。\n\n1 个模型。"), 200, 0)} == {None}


def test_hit_json_names_the_section_only_when_there_is_one():
    from rag.types import Hit
    hit = Hit(chunk_id="c", doc_id="d", title="t", url=None, text="x", start=0, end=1, score=1.0)
    assert "section" not in hit.to_json()
    hit.section = "Section 4(a)"
    assert hit.to_json()["section"] == "Section 4(a)"
