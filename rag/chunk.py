"""Split a cleaned document into chunks at sentence ends (Chinese 。！？； and the half-width
?!; and : the article uses after Chinese characters, English . ? !), blank lines and
headings. Each chunk is an exact slice of the document: text == doc.text[start:end]."""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from .text import DOCUMENT_SENTENCE_END, footnotes, sentence_spans
from .types import Chunk, Document



@dataclass
class Span:
    start: int
    end: int
    heading: bool = False


def _paragraphs(text: str) -> list[Span]:
    spans, pos = [], 0
    for block in re.split(r"(\n\s*\n)", text):
        if block.strip() and not block.startswith("\n"):
            lead = len(block) - len(block.lstrip())
            body = block.strip()
            start = pos + lead
            spans.append(Span(start, start + len(body), heading=_is_heading(body)))
        pos += len(block)
    return spans


def _is_heading(block: str) -> bool:
    return "\n" not in block and len(block) <= 40 and not DOCUMENT_SENTENCE_END.search(block[-2:] + " ")


def _sentences(text: str, span: Span) -> list[Span]:
    """Sentence spans inside a paragraph; lines of a list count as sentences."""
    out = []
    for a, b in sentence_spans(text[span.start:span.end], document=True):
        s, e = _trim(text, span.start + a, span.start + b)
        out.append(Span(s, e))
    return out


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _split_long(text: str, span: Span, size: int) -> list[Span]:
    """A sentence longer than the chunk size is cut at commas, else at the size."""
    if span.end - span.start <= size:
        return [span]
    out, start = [], span.start
    while span.end - start > size:
        window = text[start:start + size]
        cut = max(window.rfind(c) for c in ",，、 ")
        cut = cut + 1 if cut > size // 3 else size
        s, e = _trim(text, start, start + cut)
        if e > s:
            out.append(Span(s, e))
        start += cut
    s, e = _trim(text, start, span.end)
    if e > s:
        out.append(Span(s, e))
    return out


# Numbered clauses of a legal text: "4. Redistribution. You may ..." (a number, a short
# title ending in a full stop), "(a) You must ...", "APPENDIX: ...".
_CLAUSE = re.compile(r"(\d{1,2})\.\s+[A-Z][^.\n]{0,60}\.(?:\s|$)")
_ITEM = re.compile(r"\(([a-z])\)\s")
_APPENDIX = re.compile(r"(?i)(appendix|annex|schedule)\b\s*([A-Z0-9]{0,3})\b")


def chunk_document(doc: Document, size: int = 220, overlap: int = 40) -> list[Chunk]:
    """Pack sentences into chunks of about `size` characters within a section (a heading
    and the paragraphs under it, or one numbered clause of a legal text, labelled
    "Section 4" / "Section 4(a)"). The next chunk repeats the previous chunk's last
    sentence when that sentence is at most `overlap` characters, so short claims keep
    their context."""
    text = doc.text
    sections: list[tuple[str | None, list[Span]]] = []
    heading: Span | None = None
    label = parent = None
    for para in _paragraphs(text):
        body = text[para.start:para.end]
        if para.heading:
            heading = para
            label = parent = _appendix(body)
            sections.append((label, [para]))
            continue
        new_label = _label(body, parent, label)
        if new_label is not None:
            if _CLAUSE.match(body) or _APPENDIX.match(body):
                parent = new_label
            label = new_label
            sections.append((label, []))
        elif not sections or (heading is None and not sections[-1][1]):
            sections.append((label, []))
        sentences = [piece for s in _sentences(text, para) for piece in _split_long(text, s, size)]
        sections[-1][1].extend(sentences)

    chunks: list[Chunk] = []
    for section_label, section in sections:
        for start, end in _pack(section, size, overlap):
            chunks.append(_make_chunk(doc, start, end, section_label))
    return _dedupe(chunks)


def _appendix(body: str) -> str | None:
    m = _APPENDIX.match(body)
    return (m.group(1).capitalize() + (" " + m.group(2) if m.group(2) else "")) if m else None


def _label(body: str, parent: str | None, label: str | None) -> str | None:
    """The label a paragraph opens, or None when it continues the current one: a numbered
    clause opens "Section N", a lettered item inside one "Section N(x)", prose after the
    items goes back to the clause, an appendix opens "Appendix"."""
    clause = _CLAUSE.match(body)
    if clause:
        return f"Section {int(clause.group(1))}"
    if _APPENDIX.match(body):
        return _appendix(body)
    item = _ITEM.match(body)
    if item and parent and parent.startswith("Section "):
        return f"{parent}({item.group(1)})"
    if label != parent and parent is not None:
        return parent
    return None


def _pack(section: list[Span], size: int, overlap: int) -> list[tuple[int, int]]:
    """Greedy packing towards an even target (section length / chunks needed), so a
    section does not end in a tiny tail chunk that has lost its context."""
    if not section:
        return []
    if len(section) == 1 and section[0].heading:
        return [(section[0].start, section[0].end)]
    length = section[-1].end - section[0].start
    pieces = max(1, -(-length // size))
    target = min(size, max(length // pieces + overlap // 2, 1))
    out: list[tuple[int, int]] = []
    group: list[Span] = []
    for sentence in section:
        tiny = group and group[-1].end - group[0].start < min(overlap, target // 3)   # a comma cut's tail
        if group and sentence.end - group[0].start > target and not (len(group) == 1 and group[0].heading) \
                and not tiny:
            out.append((group[0].start, group[-1].end))
            tail = group[-1]
            group = [tail] if tail.end - tail.start <= overlap and not tail.heading else []
        group.append(sentence)
    if group:
        if out and group[-1].end - group[0].start < target // 3 and group[-1].end - out[-1][0] <= size * 1.3:
            out[-1] = (out[-1][0], group[-1].end)      # fold a small remainder into the last chunk
        else:
            out.append((group[0].start, group[-1].end))
    return out


def _make_chunk(doc: Document, start: int, end: int, section: str | None = None) -> Chunk:
    text = doc.text[start:end]
    digest = hashlib.sha256(f"{doc.doc_id}\x00{start}\x00{text}".encode()).hexdigest()[:16]
    return Chunk(chunk_id=f"{doc.doc_id}:{digest}", doc_id=doc.doc_id, text=text, start=start, end=end,
                 cites=footnotes(text) if doc.kind == "article" else [], section=section)


# A chunk needs a word: a run of separator characters ("-----", "*****", a box rule) carries
# nothing to find, yet its embedding sits near every question and made off-topic ones look
# answerable on the grown corpus (docs/EVAL.md).
_WORD = re.compile(r"\w", re.UNICODE)


def _dedupe(chunks: list[Chunk]) -> list[Chunk]:
    seen, out = set(), []
    for c in chunks:
        if c.chunk_id not in seen and _WORD.search(c.text.replace("_", "")):
            seen.add(c.chunk_id)
            out.append(c)
    return out
