"""The small records that pass between stages and out of the API: `Document`, `Chunk`, `Hit`
between the stages; `Answer` (with its `Citation`s, `ContextUse` and `Timings`) out of the
assistant, whose `to_json()` is the SPEC.md answer object."""
from __future__ import annotations

import bisect
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path


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

    @property
    def shipped(self) -> bool:
        """Part of the corpus the project ships (the article, its sources, a shipped extra), not a
        document the user added."""
        return self.kind in ("article", "source") or bool(self.meta.get("shipped"))

    @property
    def label(self) -> str:
        """The title, and for a document the user added from a file, the file's name when the title
        does not hold it ("GNU GENERAL PUBLIC LICENSE (GPL-2)"): a question or an answer may name the
        document by either."""
        name = file_stem(self.origin) if self.origin and not self.shipped else ""
        if name and name.lower() not in self.title.lower():
            return f"{self.title} ({name})"
        return self.title

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


@dataclass
class Citation(Hit):
    """A chunk the answer cites as [n], with the sources it cites in turn (provenance)."""
    n: int = 0
    sources: list[dict] = field(default_factory=list)   # {"number", "doc_id", "title", "site", "url", "snippet"}
    site: str | None = None             # attached by the browser viewer, with the whole document's text
    document_text: str | None = None

    def to_json(self) -> dict:
        out = super().to_json()
        for key in ("site", "document_text"):
            if out[key] is None:
                del out[key]
        return out

    @classmethod
    def from_json(cls, data: dict) -> "Citation":
        """A citation as stored with a saved conversation (its score, for one, is not kept)."""
        known = {f.name for f in fields(cls)}
        empty = {"chunk_id": "", "doc_id": "", "title": "", "url": None, "text": "", "start": 0, "end": 0, "score": 0.0}
        return cls(**dict(empty, **{k: v for k, v in data.items() if k in known}))


@dataclass
class Timings:
    retrieve_s: float = 0.0
    ttft_s: float = 0.0
    generate_s: float = 0.0
    total_s: float = 0.0
    completion_tokens: int = 0
    tokens_per_s: float = 0.0

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class ContextUse:
    """What the model was given: the layout, how many chunks, how many were cut to fit, and
    (once the model read it) the prompt's tokens and how many of them came from a cache."""
    layout: str = "none"
    chunks_given: int = 0
    trimmed: int = 0
    prompt_tokens: int | None = None
    cached_tokens: int | None = None

    def to_json(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass
class Answer:
    """The answer to one question; `to_json()` is the answer object of SPEC.md."""
    question: str
    answer: str                          # with [n] markers, n = citations[i].n
    language: str
    refused: bool = False
    refusal_reason: str | None = None    # why, when refused
    citations: list[Citation] = field(default_factory=list)
    retrieved: list[Hit] = field(default_factory=list)
    standalone_question: str | None = None
    unsupported: list[str] = field(default_factory=list)
    context: ContextUse = field(default_factory=ContextUse)
    timings: Timings = field(default_factory=Timings)
    model: str = ""
    draft: str | None = None             # a draft refused because nothing in it was supported
    spelled: str | None = None           # the question as looked up, its typing slips written right (rag/spelling.py)

    def to_json(self) -> dict:
        out = {"question": self.question, "answer": self.answer, "language": self.language, "refused": self.refused}
        if self.refusal_reason is not None:
            out["refusal_reason"] = self.refusal_reason
        out.update({"citations": [c.to_json() for c in self.citations],
                    "retrieved": [h.to_json() for h in self.retrieved],
                    "standalone_question": self.standalone_question, "unsupported": list(self.unsupported),
                    "context": self.context.to_json(), "timings": self.timings.to_json(), "model": self.model})
        if self.draft is not None:
            out["draft"] = self.draft
        if self.spelled is not None:
            out["spelled"] = self.spelled
        return out

    @classmethod
    def from_json(cls, data: dict) -> "Answer":
        """An answer as saved with a conversation (rag/conversations.py keeps part of it)."""
        context = data.get("context") or {}
        return cls(question=data.get("question", ""), answer=data.get("answer") or "",
                   language=data.get("language") or "", refused=bool(data.get("refused")),
                   refusal_reason=data.get("refusal_reason"),
                   citations=[Citation.from_json(c) for c in data.get("citations") or []],
                   retrieved=[Hit(**h) for h in data.get("retrieved") or []],
                   standalone_question=data.get("standalone_question"), unsupported=list(data.get("unsupported") or []),
                   context=ContextUse(**{k: v for k, v in context.items() if k in {f.name for f in fields(ContextUse)}}),
                   timings=Timings(**(data.get("timings") or {})), model=data.get("model") or "",
                   draft=data.get("draft"), spelled=data.get("spelled"))


@dataclass(frozen=True)
class TokenEvent:
    """A piece of the answer's text as it streams (what the user sees, already shaped)."""
    text: str


@dataclass(frozen=True)
class AnswerEvent:
    """The last event of a stream: the checked, cited answer (its text may differ from what
    streamed: markers renumbered, a draft repaired or refused)."""
    answer: Answer


StreamEvent = TokenEvent | AnswerEvent


def file_stem(origin: str) -> str:
    """The name of a document's file without its folder and extension ("/licences/BSD.txt": "BSD");
    "" for a web address."""
    if re.match(r"[a-z][a-z0-9+.\-]*://", origin, re.IGNORECASE):
        return ""
    return Path(origin).stem
