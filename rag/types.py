"""The small records that pass between stages."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class Document:
    doc_id: str
    title: str
    text: str                      # cleaned text; chunk offsets point into it
    url: str | None = None
    site: str | None = None
    language: str = "und"
    kind: str = "page"             # article | source | page | note
    origin: str | None = None      # file path or URL it was read from
    meta: dict = field(default_factory=dict)


@dataclass
class Chunk:
    chunk_id: str
    doc_id: str
    text: str
    start: int
    end: int
    cites: list[int] = field(default_factory=list)   # article footnotes inside the chunk


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

    def to_json(self) -> dict:
        return asdict(self)
