"""PDF and Word loading on files written here (a hand-built PDF with real text
operators, a .docx from python-docx), the folder walk's word for every file, and the
page a citation into a PDF reports."""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from conftest import FakeEmbedder
from rag import store
from rag.chunk import chunk_document
from rag.config import Settings
from rag.errors import IngestError
from rag.formats import join_lines, load_docx, load_pdf, tidy_text
from rag.ingest import ingest
from rag.retrieve import Retriever
from rag.sources import LeftOut, expand_sources


def make_pdf(pages: list[list[tuple[float, float, str]]]) -> bytes:
    """A PDF whose pages hold text lines drawn with Helvetica: (font size, y, text) each,
    written with the same operators word processors use (BT /F1 size Tf x y Td (..) Tj ET)."""
    objects = ["<< /Type /Catalog /Pages 2 0 R >>", None,
               "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"]
    kids = []
    for lines in pages:
        ops = "".join(f"BT /F1 {size:g} Tf 72 {y:g} Td ({text.replace('(', '[').replace(')', ']')}) Tj ET\n"
                      for size, y, text in lines)
        objects.append(f"<< /Length {len(ops.encode('latin-1'))} >>\nstream\n{ops}endstream")
        objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
                       f"/Resources << /Font << /F1 3 0 R >> >> /Contents {len(objects)} 0 R >>")
        kids.append(f"{len(objects)} 0 R")
    objects[1] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {len(kids)} >>"
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for i, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n{body}\nendobj\n".encode("latin-1")
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{o:010d} 00000 n \n" for o in offsets).encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def body(y: float, text: str) -> tuple[float, float, str]:
    return (11, y, text)


TWO_PAGES = [
    [(20, 740, "Orchid Tools licence"),
     body(700, "Orchid Tools is released under the Apache 2.0 licence, which"),
     body(686, "allows commercial use and modification."),
     body(650, "Redistributions must keep the copyright notice.")],
    [(20, 740, "Support"),
     body(700, "Version 8 runs on a Jetson Nano board and was released on"),
     body(686, "May 9, 2026."),
     body(650, "Support for version 8 ends in December 2028.")],
]


def test_pdf_keeps_paragraphs_headings_and_page_starts(tmp_path):
    path = tmp_path / "licence.pdf"
    path.write_bytes(make_pdf(TWO_PAGES))
    doc = load_pdf(path, path.read_bytes(), "lic")
    blocks = doc.text.strip().split("\n\n")
    assert blocks == [
        "Orchid Tools licence",
        "Orchid Tools is released under the Apache 2.0 licence, which allows commercial use and modification.",
        "Redistributions must keep the copyright notice.",
        "Support",
        "Version 8 runs on a Jetson Nano board and was released on May 9, 2026.",
        "Support for version 8 ends in December 2028."]
    starts = doc.meta["page_starts"]
    assert len(starts) == 2 and doc.text[starts[1]:].startswith("Support\n")
    assert doc.kind == "pdf" and doc.language == "en" and doc.title == "Orchid Tools licence"


def test_pdf_chunks_report_their_page_and_headings_cut_chunks(tmp_path):
    path = tmp_path / "licence.pdf"
    path.write_bytes(make_pdf(TWO_PAGES))
    doc = load_pdf(path, path.read_bytes(), "lic")
    chunks = chunk_document(doc, size=220, overlap=40)
    pages = {c.text: doc.pages_of(c.start, c.end) for c in chunks}
    jetson = next(t for t in pages if "Jetson Nano" in t)
    assert pages[jetson] == (2, 2)
    apache = next(t for t in pages if "Apache 2.0" in t)
    assert pages[apache] == (1, 1) and "Jetson" not in apache      # the heading 'Support' starts a new chunk


def test_hits_into_a_pdf_carry_the_page(tmp_path):
    path = tmp_path / "licence.pdf"
    path.write_bytes(make_pdf(TWO_PAGES))
    settings = Settings.from_env(index_dir=tmp_path / "index")
    report = ingest(settings, [str(path)], embedder=FakeEmbedder(), progress=False)   # with the shipped corpus
    pdf_ids = [i for i in report.added if i.startswith("licence-")]
    assert report.ok and len(pdf_ids) == 1, report.failed
    data = store.load_index(settings.index_dir)
    retriever = Retriever(data, FakeEmbedder(), settings)
    hit = next(h for h in retriever.search("When does support for version 8 end?", k=10).hits
               if h.doc_id == pdf_ids[0] and "December 2028" in h.text)
    assert hit.page == 2 and hit.to_json()["page"] == 2 and "last_page" not in hit.to_json()
    other = next(h for h in retriever.search("Gemma 4 license", k=10).hits if h.doc_id != pdf_ids[0])
    assert "page" not in other.to_json()                         # documents without pages: the SPEC shape as before


def test_pdf_spanning_chunk_names_both_pages():
    from rag.types import Document
    doc = Document(doc_id="d", title="t", text="aaaa\n\nbbbb\n", meta={"page_starts": [0, 6]})
    assert doc.pages_of(0, 4) == (1, 1) and doc.pages_of(6, 10) == (2, 2) and doc.pages_of(2, 8) == (1, 2)
    assert Document(doc_id="e", title="t", text="x").pages_of(0, 1) is None


def test_pdf_without_text_layer_encrypted_or_damaged_is_refused(tmp_path):
    import pypdf
    blank = pypdf.PdfWriter()
    blank.add_blank_page(612, 792)
    buf = io.BytesIO()
    blank.write(buf)
    with pytest.raises(IngestError, match=r"no text layer .*; use an OCR tool"):
        load_pdf(tmp_path / "scan.pdf", buf.getvalue(), "s")

    locked = pypdf.PdfWriter(clone_from=pypdf.PdfReader(io.BytesIO(make_pdf(TWO_PAGES))))
    locked.encrypt(user_password="secret", owner_password="owner", algorithm="RC4-128")
    buf = io.BytesIO()
    locked.write(buf)
    with pytest.raises(IngestError, match=r"protected by a password; save a copy without the password"):
        load_pdf(tmp_path / "locked.pdf", buf.getvalue(), "l")

    # Encrypted against editing only (empty user password): opens like any other PDF.
    for algorithm in ("RC4-128", "AES-128"):
        owner_only = pypdf.PdfWriter(clone_from=pypdf.PdfReader(io.BytesIO(make_pdf(TWO_PAGES))))
        owner_only.encrypt(user_password="", owner_password="owner", algorithm=algorithm)
        buf = io.BytesIO()
        owner_only.write(buf)
        assert "Jetson Nano" in load_pdf(tmp_path / "ro.pdf", buf.getvalue(), "r").text, algorithm

    with pytest.raises(IngestError, match=r"cannot be read as a PDF .*; check the file"):
        load_pdf(tmp_path / "cut.pdf", make_pdf(TWO_PAGES)[:300], "c")
    with pytest.raises(IngestError, match=r"not a PDF file"):
        load_pdf(tmp_path / "fake.pdf", b"<html>not a pdf</html>", "f")


def test_pdf_text_gets_ideographs_for_radical_lookalikes():
    # Fonts in Chromium-printed PDFs map 青, 文, 用 to radicals (U+2ED8, U+2F42, U+2F64).
    assert tidy_text("\u2ed8柠实验室发布了\u2f42件，\u2f64于 o\ufb04ine") == "青柠实验室发布了文件，用于 offline"
    assert tidy_text("单 时 ， 汇 率 in English") == "单时，汇率 in English"
    assert join_lines(["名为“星", "河”的模型 uses", "Apache 2.0 and", "more"]) == "名为“星河”的模型 uses Apache 2.0 and more"


def test_running_headers_and_page_numbers_are_dropped(tmp_path):
    topics = ["who may use the model", "how to attribute the authors", "what happens on a breach", "governing law"]
    pages = [[body(770, "ACME Corp confidential"), body(700, f"Section {i} explains {topic}."),
              body(40, f"Page {i} of 4")] for i, topic in enumerate(topics, 1)]
    path = tmp_path / "runs.pdf"
    path.write_bytes(make_pdf(pages))
    doc = load_pdf(path, path.read_bytes(), "r")
    assert "ACME" not in doc.text and "of 4" not in doc.text
    assert all(f"Section {i} explains {topic}." in doc.text for i, topic in enumerate(topics, 1))


def _docx(path: Path) -> Path:
    import docx
    d = docx.Document()
    d.add_heading("Orchid Tools 使用條款", level=1)
    d.add_paragraph("Orchid Tools version 8 runs Gemma 4 E4B on a Jetson Nano board.")
    d.add_paragraph("本軟體由蘭花工具公司於 2026 年 5 月發布，授權使用者在內部伺服器上部署。")
    table = d.add_table(rows=2, cols=2)
    for (r, c), text in {(0, 0): "版本", (0, 1): "發布日期", (1, 0): "8", (1, 1): "2026-05-09"}.items():
        table.cell(r, c).text = text
    d.add_heading("Support", level=2)
    d.add_paragraph("Support ends in December 2028.")
    d.save(path)
    return path


def test_docx_reads_paragraphs_headings_and_tables_in_order(tmp_path):
    path = _docx(tmp_path / "terms.docx")
    doc = load_docx(path, path.read_bytes(), "t")
    assert doc.text.strip().split("\n\n") == [
        "Orchid Tools 使用條款", "Orchid Tools version 8 runs Gemma 4 E4B on a Jetson Nano board.",
        "本軟體由蘭花工具公司於 2026 年 5 月發布，授權使用者在內部伺服器上部署。", "版本 | 發布日期\n8 | 2026-05-09",
        "Support", "Support ends in December 2028."]
    assert doc.title == "Orchid Tools 使用條款" and doc.kind == "docx" and doc.language == "zh-Hant"


def test_bad_word_files_are_refused_with_what_to_do(tmp_path):
    import docx
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("a.txt", "hello")
    with pytest.raises(IngestError, match=r"a zip archive, not a Word document .*; check the file"):
        load_docx(tmp_path / "renamed.docx", buf.getvalue(), "z")
    with pytest.raises(IngestError, match=r"old Word 97-2003 document .*; save it as \.docx"):
        load_docx(tmp_path / "old.docx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600), "o")
    with pytest.raises(IngestError, match=r"not a Word \.docx file \(it is not a zip package\)"):
        load_docx(tmp_path / "text.docx", b"just some text", "t")
    empty = io.BytesIO()
    docx.Document().save(empty)
    with pytest.raises(IngestError, match=r"holds no text; add some text"):
        load_docx(tmp_path / "empty.docx", empty.getvalue(), "e")


def test_folder_walk_names_every_file_it_leaves_out(tmp_path):
    folder = tmp_path / "docs"
    (folder / "sub").mkdir(parents=True)
    (folder / ".git").mkdir()
    (folder / ".git" / "config").write_text("x")
    (folder / "notes.md").write_text("# Notes\n\nSome text.\n", encoding="utf-8")
    (folder / "sheet.xlsx").write_bytes(b"PK\x03\x04")
    (folder / "old.doc").write_bytes(b"\xd0\xcf\x11\xe0")
    (folder / "README").write_text("text without an extension")
    (folder / ".DS_Store").write_bytes(b"\x00\x01")
    (folder / "sub" / "photo.png").write_bytes(b"\x89PNG")
    (folder / "sub" / "terms.docx").write_bytes(b"")
    (folder / "sub" / "paper.pdf").write_bytes(b"")
    result = dict(expand_sources([str(folder)]))
    assert result[str(folder / "notes.md")] is None
    assert result[str(folder / "sub" / "terms.docx")] is None and result[str(folder / "sub" / "paper.pdf")] is None
    left = {name: why for name, why in result.items() if isinstance(why, LeftOut)}
    assert set(left) == {str(folder / n) for n in ("sheet.xlsx", "old.doc", "README", ".DS_Store", ".git",
                                                    "sub/photo.png")}
    assert "'.xlsx' files are not supported; use .pdf, .docx" in left[str(folder / "sheet.xlsx")]
    assert "save it as .docx" in left[str(folder / "old.doc")]
    assert "'no extension' files are not supported" in left[str(folder / "README")]
    assert "a hidden file" in left[str(folder / ".DS_Store")] and "a hidden folder" in left[str(folder / ".git")]
    assert all(why.startswith(name + ": ") for name, why in left.items())


def test_folder_of_only_unsupported_files_fails_and_names_each(tmp_path):
    (tmp_path / "a.xlsx").write_bytes(b"PK")
    (tmp_path / "b.png").write_bytes(b"\x89PNG")
    result = expand_sources([str(tmp_path)])
    failures = [why for _, why in result if why and not isinstance(why, LeftOut)]
    assert len(failures) == 1 and "holds no .pdf, .docx, .html, .htm, .txt or .md files" in failures[0]
    assert sorted(n for n, why in result if isinstance(why, LeftOut)) == [str(tmp_path / "a.xlsx"),
                                                                        str(tmp_path / "b.png")]


def test_ingest_reports_left_out_files_without_failing(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    _docx(folder / "terms.docx")
    (folder / "licence.pdf").write_bytes(make_pdf(TWO_PAGES))
    (folder / "budget.xlsx").write_bytes(b"PK\x03\x04")
    settings = Settings.from_env(index_dir=tmp_path / "index")
    report = ingest(settings, [str(folder)], embedder=FakeEmbedder(), progress=False)
    assert report.ok and sum(1 for i in report.added if i.startswith(("terms-", "licence-"))) == 2, report.failed
    assert report.left_out == [f"{folder / 'budget.xlsx'}: '.xlsx' files are not supported; "
                               "use .pdf, .docx, .html, .htm, .txt or .md"]
    assert "left out 1 file(s)" in report.summary()
    kinds = {d.kind for d in store.load_index(settings.index_dir).documents.values()}
    assert {"pdf", "docx"} <= kinds
