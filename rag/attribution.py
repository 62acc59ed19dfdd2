"""Which document a sentence of an answer says its claim comes from ("According to 9to5Google,
…", "Engadget 說 …"), so that the sentence cites that document's passage rather than another
that repeats the claim (cite.py). Read from the document's own title and site: nothing here
knows a corpus."""
from __future__ import annotations

import bisect
import re

from .types import Document

# The name a sentence credits: after "according to" / 据, or before a verb of saying. A name is a
# run of capitalised or digit-bearing words, "for" / "of" / "and" allowed inside ("Google AI for
# Developers", "9to5Google", "Google Open Source Blog").
_WORD = r"[A-Z0-9][A-Za-z0-9.\-]*"
_NAME = rf"{_WORD}(?:\s+(?:(?:for|of|and|the)\s+)?{_WORD})*"
_SAYING_EN = (r"says|said|reports|reported|writes|wrote|describes|described|notes|noted|states|stated|calls|called|"
              r"cites|cited|lists|listed|highlights|highlighted|explains|explained|puts|put|announced|announces|mentions|mentioned")
_SAYING_ZH = r"告诉|告訴|说|說|称|稱|表示|报道|報導|報道|写道|寫道|提到|指出|描述|介绍|介紹|列出|列为|列為|强调|強調|认为|認為|宣布|宣佈"
_FRAMES = [re.compile(rf"\b(?i:according to)\s+(?:the\s+)?({_NAME})"),
           re.compile(rf"(?:据|根据|據|根據|按照)\s*({_NAME})"),
           re.compile(rf"(?<![\w.])({_NAME})(?:'s? \w+)?\s+(?:{_SAYING_EN})\b"),
           re.compile(rf"({_NAME})\s*(?:的\S{{0,8}}?)?(?:{_SAYING_ZH})")]
# Parts of a site's address that name no one ("www", "com", "blog" …).
_PLAIN_LABELS = frozenset("www com org net dev io co uk cn tw hk edu gov blog blogs news docs".split())
_MIN_NAME = 4                 # "AI" or "Pi" is no document's name


def credited_names(sentence: str) -> list[str]:
    """The names the sentence credits with its claim, squeezed (lower case, no blanks)."""
    out = []
    for frame in _FRAMES:
        for m in frame.finditer(sentence):
            name = _squeeze(m.group(1))
            if len(name) >= _MIN_NAME and name not in out:
                out.append(name)
    return out


def uncredited(sentence: str) -> str:
    """The sentence without the credit ("According to 9to5Google, " / "Engadget 說"): the claim
    the credited document must back ("Google Cloud says so." has none)."""
    for frame in _FRAMES:
        sentence = frame.sub(" ", sentence)
    return sentence


def document_names(doc: Document) -> set[str]:
    """What a document goes by, squeezed: its whole title, each part of a title cut by " | " or
    " - " ("Engadget"), and the labels of its site ("9to5google", "engadget", "opensource")."""
    names = set()
    if doc.title:
        names.add(_squeeze(doc.title))
        names |= {_squeeze(part) for part in re.split(r"\s+[|\-–—]\s+", doc.title)}
    if doc.site:
        names |= {_squeeze(label) for label in re.split(r"[.\s]+", doc.site.lower()) if label not in _PLAIN_LABELS}
    return {n for n in names if len(n) >= _MIN_NAME}


def credited_documents(sentence: str, documents: dict[str, Document]) -> set[str]:
    """The documents a sentence credits: for each credited name, the documents one of whose names
    the credited one holds, or that hold it in their title; only the best fit counts (the
    longest name shared), and a name that fits several documents equally well credits none
    ("Google" fits every Google site)."""
    found: set[str] = set()
    names = _names_of(documents)
    for name in credited_names(sentence):
        fits = names.fits(name)
        if fits:
            best = max(fits.values())
            top = [d for d, length in fits.items() if length == best]
            if len(top) == 1:
                found.add(top[0])
    return found


class _NameIndex:
    """The documents' names looked up by the credited name's parts instead of read one document
    at a time: at 5,000 documents a credited sentence costs microseconds, not tens of milliseconds."""

    def __init__(self, documents: dict[str, Document]):
        self.by_name: dict[str, dict[str, int]] = {}
        for doc_id, doc in documents.items():
            for n in document_names(doc):
                self.by_name.setdefault(n, {})[doc_id] = len(n)
        self.ids = list(documents)
        titles = [_squeeze(documents[d].title or "") for d in self.ids]
        self.starts, at = [], 0
        for title in titles:
            self.starts.append(at)
            at += len(title) + 1
        self.titles = "\0".join(titles)          # no squeezed name holds a NUL: no match spans two titles

    def fits(self, name: str) -> dict[str, int]:
        """doc id -> the longest name it shares with `name`: one of its names inside `name`, or
        `name` inside its title (then all of `name`)."""
        fits: dict[str, int] = {}
        for i in range(len(name)):
            for j in range(i + _MIN_NAME, len(name) + 1):
                for doc_id, length in self.by_name.get(name[i:j], {}).items():
                    fits[doc_id] = max(fits.get(doc_id, 0), length)
        at = self.titles.find(name)
        while name and at != -1:
            doc_id = self.ids[bisect.bisect_right(self.starts, at) - 1]
            fits[doc_id] = max(fits.get(doc_id, 0), len(name))
            at = self.titles.find(name, at + 1)
        return fits


# id(documents) -> (documents, how many, their index). Holding the dict keeps its id from being
# reused while the entry exists; a dict that grew or shrank is indexed again.
_NAME_INDEX: dict[int, tuple[dict, int, _NameIndex]] = {}


def index_names(documents: dict[str, Document]) -> None:
    """Build the name index of a document set ahead of its first answer (53 ms at 5,000 documents):
    called when an index version loads, so no answer pays for it."""
    _names_of(documents)


def _names_of(documents: dict[str, Document]) -> _NameIndex:
    cached = _NAME_INDEX.get(id(documents))
    if cached is None or cached[0] is not documents or cached[1] != len(documents):
        if len(_NAME_INDEX) >= 8:
            _NAME_INDEX.clear()
        cached = _NAME_INDEX[id(documents)] = (documents, len(documents), _NameIndex(documents))
    return cached[2]


def _squeeze(text: str) -> str:
    return re.sub(r"[\s\-_.'’]+", "", text.lower())
