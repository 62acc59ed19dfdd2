"""The small records that pass between stages."""
from __future__ import annotations

import bisect
from dataclasses import asdict, dataclass, field


@dataclass
class Document:
    doc_id: str
    title: str
    text: str                      # cleaned text; chunk offsets point into it
    url: str | None = None
    site: str | None = None
    language: str = "und"
    kind: str = "page"             # article | source | page | note | pdf | docx
    origin: str | None = None      # file path or URL it was read from
    meta: dict = field(default_factory=dict)     # a PDF's "page_starts": offset of each page in text

    def pages_of(self, start: int, end: int) -> tuple[int, int] | None:
        """The first and last page (from 1) a span of the text lies on; None without pages."""
        starts = self.meta.get("page_starts")
        if not starts:
            return None
        return bisect.bisect_right(starts, start), bisect.bisect_right(starts, max(start, end - 1))


@dataclass
class Chunk:
    chunk_id: str
    doc_id: str
    text: str
    start: int
    end: int
    cites: list[int] = field(default_factory=list)   # article footnotes inside the chunk
    section: str | None = None     # the numbered clause it lies in ("Section 4(a)"), if the text has them


@dataclass
class Hit:
    chunk_id: str
    doc_id: str
    title: str
    url: str | None
    text: str
    start: int
    end: int
    score: float
    page: int | None = None        # the PDF page the chunk starts on
    last_page: int | None = None   # set only when the chunk runs onto a later page
    section: str | None = None     # the chunk's numbered clause ("Section 4(a)"), when it has one

    def to_json(self) -> dict:
        out = asdict(self)
        for key in ("page", "last_page", "section"):
            if out[key] is None:
                del out[key]
        return out
