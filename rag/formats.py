"""PDF and Word (.docx) files as `Document`s: text in reading order with paragraphs and
headings as blank-line-separated blocks (so the chunker cuts at them), Chinese radical
look-alikes mapped back to the ideographs, and for PDFs the offset where each page starts."""
from __future__ import annotations

import io
import logging
import math
import re
import unicodedata
import zipfile
from dataclasses import dataclass
from pathlib import Path

from .errors import IngestError
from .text import detect_language
from .types import Document

MIN_TEXT_CHARS = 20          # fewer letters than this in a whole PDF: no text layer to speak of

# PDF fonts often map common ideographs to the look-alike characters of the CJK Radicals
# Supplement (青 comes out as U+2ED8). The pairs are U+2E81..U+2EF3 of Unicode's
# EquivalentUnifiedIdeograph.txt; the Kangxi radicals (U+2F00..U+2FD5) map by NFKC.
_RADICAL_PAIRS = (
    "⺁厂 ⺂乛 ⺃乚 ⺄乙 ⺅亻 ⺆冂 ⺇𠘨 ⺈刀 ⺉刂 ⺊卜 ⺋㔾 ⺌小 ⺍小 ⺎兀 ⺏尣 ⺐尢 ⺑𡯂 ⺒巳 ⺓幺 ⺔彑 ⺕𫜹 ⺖忄 "
    "⺗心 ⺘扌 ⺙攵 ⺛旡 ⺜日 ⺝月 ⺞歺 ⺟母 ⺠民 ⺡氵 ⺢氺 ⺣灬 ⺤爫 ⺥爫 ⺦丬 ⺧牛 ⺨犭 ⺩王 ⺪𤴔 ⺫目 ⺬示 ⺭礻 "
    "⺮𥫗 ⺯糹 ⺰纟 ⺱罓 ⺲罒 ⺳㓁 ⺴冗 ⺵𦉫 ⺶羊 ⺷𦍌 ⺸𦍋 ⺹耂 ⺺肀 ⺻聿 ⺼肉 ⺽𦥑 ⺾艹 ⺿艹 ⻀艹 ⻁虎 ⻂衤 ⻃覀 "
    "⻄西 ⻅见 ⻆角 ⻇𧢲 ⻈讠 ⻉贝 ⻊𧾷 ⻋车 ⻌辶 ⻍辶 ⻎辶 ⻏邑 ⻐钅 ⻑長 ⻒镸 ⻓长 ⻔门 ⻕𨸏 ⻖阝 ⻗雨 ⻘青 ⻙韦 "
    "⻚页 ⻛风 ⻜飞 ⻝食 ⻞𩙿 ⻟飠 ⻠饣 ⻡𩠐 ⻢马 ⻣骨 ⻤鬼 ⻥鱼 ⻦鸟 ⻧卤 ⻨麦 ⻩黄 ⻪黾 ⻫斉 ⻬齐 ⻭歯 ⻮齿 ⻯竜 "
    "⻰龙 ⻱龜 ⻲亀 ⻳龟")
_RADICALS = {pair[0]: pair[1:] for pair in _RADICAL_PAIRS.split()}
_NFKC_RANGES = ((0x2F00, 0x2FDF), (0xF900, 0xFAFF), (0xFB00, 0xFB4F))   # Kangxi radicals, compatibility ideographs, ligatures
_INVISIBLE = re.compile("[\u00ad\u200b-\u200d\u2060\ufeff]")
_CJK = "\u2e80-\u2fff\u3001-\u303f\u3040-\u9fff\uf900-\ufaff\uff00-\uffef"
_SPACED_CJK = re.compile(f"(?:[{_CJK}] ){{2,}}[{_CJK}]")     # justified lines: 单 时 ， 汇 率
_IS_CJK = re.compile(f"[{_CJK}]")


def tidy_text(text: str) -> str:
    """Ideographs for their radical look-alikes, ligatures spelled out, soft hyphens and
    zero-width characters dropped, spaces inside justified Chinese lines removed."""
    out = []
    for ch in _INVISIBLE.sub("", text):
        cp = ord(ch)
        if 0x2E80 <= cp <= 0x2EFF:
            ch = _RADICALS.get(ch, ch)
        elif any(lo <= cp <= hi for lo, hi in _NFKC_RANGES):
            ch = unicodedata.normalize("NFKC", ch)
        out.append(ch)
    return _SPACED_CJK.sub(lambda m: m.group().replace(" ", ""), "".join(out))


def join_lines(lines: list[str]) -> str:
    """Lines of one paragraph as running text: Chinese wraps without a space, other
    scripts with one."""
    text = ""
    for line in lines:
        line = line.strip()
        if not line:
            continue
        if text and not (_IS_CJK.match(text[-1]) or _IS_CJK.match(line[0])):
            text += " "
        text += line
    return text


def _title(candidate: str | None, blocks: list[str], path: Path) -> str:
    candidate = " ".join((candidate or "").split())
    if candidate and not re.fullmatch(r"(?i)(untitled|microsoft word - .*|document\d*|\S+\.(docx?|pdf))", candidate):
        return candidate[:120]
    first = next((b for b in blocks if b.strip()), "")
    return first.strip()[:120] if 0 < len(first.strip()) <= 120 else path.stem


# ----------------------------------------------------------------- PDF

@dataclass
class _Line:
    text: str
    y: float | None = None
    size: float | None = None


def load_pdf(path: Path, data: bytes, doc_id: str) -> Document:
    """The PDF's text layer, page by page. A scan without text, a password-protected or a
    damaged file is refused with a line that says what to do."""
    logging.getLogger("pypdf").setLevel(logging.ERROR)     # its warnings about odd files are not the user's business
    try:
        import pypdf
    except ImportError:
        raise IngestError(f"{path}: reading PDF needs the pypdf package; "
                          "use `pip install -r requirements.txt` to install it") from None
    if not data.lstrip()[:5].startswith(b"%PDF"):
        raise IngestError(f"{path}: not a PDF file (it does not start with %PDF); "
                          "check the file, or save it again as PDF")
    try:
        reader = pypdf.PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            _decrypt(reader, path)
        pages = list(reader.pages)
        title = (reader.metadata or {}).get("/Title") if reader.metadata else None
    except IngestError:
        raise
    except pypdf.errors.DependencyError:
        raise IngestError(_AES_NEEDS_CRYPTOGRAPHY.format(path=path)) from None
    except Exception as e:           # pypdf raises many kinds of error on damaged files
        raise IngestError(f"{path}: cannot be read as a PDF ({_short(e)}); "
                          "check the file, or save it again as PDF") from None
    if not pages:
        raise IngestError(f"{path}: the PDF has no pages; check the file")
    page_lines = [_page_lines(page) for page in pages]
    _drop_running_lines(page_lines)
    texts, starts = [], []
    offset = 0
    for lines in page_lines:
        blocks = _paragraphs(lines)
        page_text = "\n\n".join(blocks)
        starts.append(offset)
        texts.append(page_text)
        offset += len(page_text) + (2 if page_text else 0)
    text = "\n\n".join(t for t in texts if t)
    letters = len(re.findall(r"\w", text))
    if letters < MIN_TEXT_CHARS:
        raise IngestError(f"{path}: the PDF has no text layer (its {len(pages)} page(s) are images only, as in a scan); "
                          "use an OCR tool such as ocrmypdf on it first, or save its text as .txt")
    blocks = text.split("\n\n")
    return Document(doc_id=doc_id, title=_title(str(title) if title else None, blocks, path), text=text + "\n",
                    language=detect_language(text[:2000]), kind="pdf", origin=str(path.resolve()),
                    meta={"page_starts": starts})


_AES_NEEDS_CRYPTOGRAPHY = ("{path}: the PDF is encrypted with AES, which needs the cryptography package "
                           "(pip install -r requirements.txt); use that, or save an unprotected copy")


def _decrypt(reader, path: Path) -> None:
    """Many PDFs are encrypted only against editing, with an empty password: those open."""
    from pypdf.errors import DependencyError
    try:
        opened = reader.decrypt("")
    except DependencyError:
        raise IngestError(_AES_NEEDS_CRYPTOGRAPHY.format(path=path)) from None
    if not opened:
        raise IngestError(f"{path}: the PDF is protected by a password; "
                          "save a copy without the password and try again")


def _short(e: Exception) -> str:
    text = " ".join(str(e).split())[:120]
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def _page_lines(page) -> list[_Line]:
    """The page's lines in the order the file draws them, each with its height on the page
    and its font size (from pypdf's text visitor), so gaps and headings can be seen."""
    lines: list[_Line] = [_Line("")]

    def visit(text, cm, tm, font, size):
        pieces = text.split("\n")
        for i, piece in enumerate(pieces):
            if i:
                lines.append(_Line(""))
            line = lines[-1]
            line.text += piece
            if piece.strip() and line.y is None and cm and tm:
                a = tm[0] * cm[0] + tm[1] * cm[2]
                b = tm[0] * cm[1] + tm[1] * cm[3]
                c = tm[2] * cm[0] + tm[3] * cm[2]
                d = tm[2] * cm[1] + tm[3] * cm[3]
                line.y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
                line.size = abs(size or 0) * math.sqrt(abs(a * d - b * c)) or None
    try:
        page.extract_text(visitor_text=visit)
    except Exception:                # one damaged page must not lose the others
        return []
    out = []
    for line in lines:
        line.text = tidy_text(line.text).strip()
        if line.text:
            out.append(line)
    return out


def _drop_running_lines(pages: list[list[_Line]]) -> None:
    """Headers and footers repeated on most pages ("Page 3 of 10", the document title)
    are not content; with three or more pages, drop short lines that open or close most
    pages with the same words."""
    if len(pages) < 3:
        return
    def key(line: _Line) -> str:
        return re.sub(r"\d+", "#", line.text)
    counts: dict[str, int] = {}
    for lines in pages:
        for k in {key(l) for l in lines[:2] + lines[-2:]}:
            counts[k] = counts.get(k, 0) + 1
    running = {k for k, n in counts.items() if n >= max(3, 0.6 * len(pages)) and len(k) <= 80}
    for lines in pages:
        edge = set(map(id, lines[:2] + lines[-2:]))
        lines[:] = [l for l in lines if not (id(l) in edge and key(l) in running)]


def _paragraphs(lines: list[_Line]) -> list[str]:
    """Lines grouped into paragraphs where the gap to the next line is clearly wider
    than the usual line pitch or the font size changes; larger type stands alone as a
    heading."""
    if not lines:
        return []
    sizes: dict[float, int] = {}
    for l in lines:
        if l.size:
            sizes[round(l.size, 1)] = sizes.get(round(l.size, 1), 0) + len(l.text)
    body = max(sizes, key=sizes.get) if sizes else None
    gaps = [a.y - b.y for a, b in zip(lines, lines[1:]) if a.y is not None and b.y is not None
            and a.size and b.size and body and abs(a.size - body) < 0.5 and abs(b.size - body) < 0.5 and a.y > b.y]
    pitch = sorted(gaps)[len(gaps) // 4] if gaps else None     # most gaps are between lines of one paragraph

    def heading(l: _Line) -> bool:
        return bool(body and l.size and l.size >= body * 1.15)

    groups: list[list[_Line]] = []
    for prev, line in zip([None] + lines[:-1], lines):
        new = prev is None
        if prev is not None:
            if heading(prev) != heading(line) or (prev.size and line.size and abs(prev.size - line.size) > 0.15 * prev.size):
                new = True
            elif prev.y is not None and line.y is not None and pitch:
                gap = prev.y - line.y
                wide = max(1.4 * pitch, 1.7 * (line.size or 0))          # big type has a wider pitch
                new = gap < -0.5 * pitch or gap > wide            # moved up (a new column) or a wide gap
        if new:
            groups.append([line])
        else:
            groups[-1].append(line)
    return [join_lines([l.text for l in g]) for g in groups if g]


# ----------------------------------------------------------------- Word

_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def load_docx(path: Path, data: bytes, doc_id: str) -> Document:
    """Paragraphs (headings included, each its own block) and tables (one block, a row a
    line) of a .docx in document order."""
    try:
        import docx
    except ImportError:
        raise IngestError(f"{path}: reading Word files needs the python-docx package; "
                          "use `pip install -r requirements.txt` to install it") from None
    if data.startswith(_OLE):
        raise IngestError(f"{path}: an old Word 97-2003 document (or an encrypted one), not .docx; "
                          "save it as .docx (Word: File > Save As) and try again")
    try:
        names = set(zipfile.ZipFile(io.BytesIO(data)).namelist())
    except (zipfile.BadZipFile, OSError, ValueError):
        raise IngestError(f"{path}: not a Word .docx file (it is not a zip package); "
                          "check the file, or save it again as .docx") from None
    if "word/document.xml" not in names:
        raise IngestError(f"{path}: a zip archive, not a Word document (it holds no word/document.xml); "
                          "check the file, or save it again as .docx")
    try:
        document = docx.Document(io.BytesIO(data))
        blocks = _docx_blocks(document)
        title = document.core_properties.title
    except Exception as e:           # a zip that is not a Word package, or a damaged one
        raise IngestError(f"{path}: not a readable Word .docx file ({_short(e)}); "
                          "check the file, or save it again as .docx") from None
    text = "\n\n".join(blocks)
    if not re.search(r"\w", text):
        raise IngestError(f"{path}: the Word document holds no text; add some text or leave it out")
    return Document(doc_id=doc_id, title=_title(title, blocks, path), text=text + "\n",
                    language=detect_language(text[:2000]), kind="docx", origin=str(path.resolve()))


def _docx_blocks(document) -> list[str]:
    from docx.table import Table
    blocks: list[str] = []
    for item in document.iter_inner_content():
        if isinstance(item, Table):
            rows = []
            for row in item.rows:
                cells = list(dict.fromkeys(" ".join(tidy_text(c.text).split()) for c in row.cells))  # merged cells repeat
                if any(cells):
                    rows.append(" | ".join(c for c in cells if c))
            if rows:
                blocks.append("\n".join(rows))
            continue
        lines = [tidy_text(l) for l in item.text.split("\n")]
        text = join_lines(lines) if len(lines) > 1 else lines[0].strip()
        if text:
            blocks.append(text)
    return blocks
