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
