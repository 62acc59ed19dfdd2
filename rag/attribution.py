"""Which document a sentence of an answer says its claim comes from ("According to 9to5Google,
…", "Engadget 說 …"), so that the sentence cites that document's passage rather than another
that repeats the claim (cite.py). Read from the document's own title and site: nothing here
knows a corpus."""
from __future__ import annotations

import bisect
import re

from .text import FOOTNOTE, FOOTNOTE_RUN, to_simplified
from .types import Chunk, Document

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


def title_parts(title: str) -> list[str]:
    """A title cut at " | " or " - " ("Gemma releases | Google AI for Developers"): the last part
    is usually the publication, the first the headline."""
    return re.split(r"\s+[|\-–—]\s+", title)


def document_names(doc: Document) -> set[str]:
    """What a document goes by, squeezed: its whole title, each part of a title cut by " | " or
    " - " ("Engadget"), and the labels of its site ("9to5google", "engadget", "opensource")."""
    names = set()
    if doc.title:
        names.add(_squeeze(doc.title))
        names |= {_squeeze(part) for part in title_parts(doc.title)}
    if doc.site:
        names |= {_squeeze(label) for label in re.split(r"[.\s]+", doc.site.lower()) if label not in _PLAIN_LABELS}
    return {n for n in names if len(n) >= _MIN_NAME}


def publication_names(doc: Document) -> set[str]:
    """What names a document as a publication, squeezed: its whole title, the last part of a
    title cut by " | " or " - " ("Google AI Developers Forum"; not its headline "Gemma 4"), and
    its site: the labels of an address ("engadget", "opensource"), else the whole name ("Studio
    Global", not "global")."""
    names = set()
    if doc.title:
        names |= {_squeeze(doc.title), _squeeze(title_parts(doc.title)[-1])}
    if doc.site:
        names.add(_squeeze(doc.site))
        if "." in doc.site.strip(".") and " " not in doc.site.strip():
            names |= {_squeeze(label) for label in doc.site.lower().split(".") if label not in _PLAIN_LABELS}
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


def asks_for_source(question: str) -> bool:
    """The question asks which document said something ("是哪家媒体报道的？", "出自文章引用的哪个
    来源？", "Which of the article's sources …?", "Who reported …?"), not what it said."""
    return bool(_ASKS_SOURCE.search(to_simplified(question)))


def asked_documents(question: str, documents: dict[str, Document]) -> tuple[set[str], str]:
    """The documents a question asks what they said ("Engadget 是怎么描述…的？", "What word does
    Google's Open Source Blog use…?", "According to 9to5Google, …"): a document named just before
    a verb of saying, or after "according to" / 根据; and the question without those names (the
    words a sentence that states the answer should hold)."""
    found: set[str] = set()
    rest = question
    for frame in _ASKED_FRAMES:
        for m in frame.finditer(question):
            named = named_documents(m.group(1), documents)
            if named:
                found |= named
                rest = rest.replace(m.group(1), " ")
    return found, rest


def credits(sentence: str, chunk: Chunk, documents: dict[str, Document], wanted: set[str]) -> bool:
    """The sentence of `chunk` is one of the `wanted` documents' own, or comes from one of them by
    its footnotes, or names one."""
    if chunk.doc_id in wanted:
        return True
    named = named_documents(FOOTNOTE_RUN.sub(" ", sentence), documents)
    return bool(named & wanted) or bool(set(sentence_sources(sentence, chunk, documents, named)) & wanted)


def without_source_ask(question: str) -> str:
    """The question without its asking for a source ("文章引用的哪一个来源，用发布记录列出了…" ->
    "，用发布记录列出了…"): the words left are those the sentence that says it should hold."""
    return _CITED_BY.sub(" ", _ASKS_SOURCE.sub(" ", to_simplified(question)))


def named_documents(text: str, documents: dict[str, Document]) -> set[str]:
    """The documents a text names by a name no other document goes by ("Google Cloud" names the
    one on cloud.google.com; "Google" alone, the label of several sites, names none). A name is
    written with a capital or a digit where it starts ("Open Source Blog", "9to5Google"; not the
    "open-source community"), or is a whole site ("engadget.com")."""
    cased = re.sub(_SQUEEZED_OUT, "", text)
    squeezed, index, found = cased.lower(), _names_of(documents), set()
    if len(squeezed) != len(cased):
        cased = squeezed.upper()              # a letter whose lower case is longer: no case to read
    for i in range(len(squeezed)):
        for j in range(i + _MIN_NAME, min(len(squeezed), i + index.longest) + 1):
            owners = index.publications.get(squeezed[i:j])
            if owners is not None and len(owners) == 1 and (not cased[i].islower() or squeezed[i:j] in index.sites):
                found |= set(owners)
    return found


def sentence_sources(sentence: str, chunk: Chunk, documents: dict[str, Document],
                     named: set[str] | None = None) -> list[str]:
    """The documents a sentence of `chunk` comes from. In a document that cites others by
    numbered footnotes (an article and its 来源 list), the documents of the first footnotes
    after the sentence on its line ("…基础;今天…运行。[4]"), narrowed to those the sentence names
    when it names some ("Google Cloud 明确把…;Google AI Developers Forum 也…。[3][5]"); with no
    footnote, the cited documents it names. Any other sentence comes from its own document.
    `named`: the documents the sentence names, when the caller has them (named_documents)."""
    doc = documents.get(chunk.doc_id)
    if doc is None:
        return []
    cited = doc.meta.get("sources") or {}
    if not cited:
        return [doc.doc_id]
    at = doc.text.find(sentence, max(0, chunk.start - len(sentence)))
    end = at + len(sentence) if at >= 0 else chunk.end
    line_end = doc.text.find("\n", end)
    line = doc.text[end - 1 if end else 0:line_end if line_end >= 0 else len(doc.text)]
    tail = sentence[-8:] + line
    run = FOOTNOTE_RUN.search(tail)
    footnoted = [cited[n] for n in FOOTNOTE.findall(run.group(0)) if cited.get(n) in documents] if run else []
    if named is None:
        named = named_documents(FOOTNOTE_RUN.sub(" ", sentence), documents)
    named = named & set(cited.values())
    if footnoted:
        return [d for d in footnoted if d in named] or list(dict.fromkeys(footnoted))
    return sorted(named) or [doc.doc_id]


class _NameIndex:
    """The documents' names looked up by the credited name's parts instead of read one document
    at a time: at 5,000 documents a credited sentence costs microseconds, not tens of milliseconds."""

    def __init__(self, documents: dict[str, Document]):
        self.by_name: dict[str, dict[str, int]] = {}
        for doc_id, doc in documents.items():
            for n in document_names(doc):
                self.by_name.setdefault(n, {})[doc_id] = len(n)
        self.publications: dict[str, set[str]] = {}
        for doc_id, doc in documents.items():
            for n in publication_names(doc):
                self.publications.setdefault(n, set()).add(doc_id)
        self.longest = max(map(len, self.publications), default=0)
        self.sites = {_squeeze(doc.site) for doc in documents.values() if doc.site}
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


# "哪家媒体报道的", "出自…哪个来源", "这个说法出自", "哪份文件提到", "Which of the sources …", "Which document
# says …", "Who reported …": read in Simplified Chinese. "来源是什么" alone may ask where a thing comes from,
# "什么渠道试用" for a channel, and "哪些文件需要标注" or "Which files must carry a notice?" for files a
# licence speaks of: a document or file is asked for only with a verb of saying after it.
_ASKS_SOURCE = re.compile(
    r"(?:哪|什么|何)[^，,。？?！!]{0,12}?(?:来源|出处|媒体|刊物|博客"
    r"|(?:网站|渠道|管道)[^，,。？?]{0,3}(?:介绍|报道|报导|称|说|写|提到|宣布|表示))"
    r"|(?:哪|什么)[一份篇个]{0,2}(?:文档|文件|文章|网页|页面)[^，,。？?]{0,4}"
    r"(?:说|写|提到|称|表示|介绍|报道|报导|列出|记载|描述|宣布)"
    r"|(?:说法|消息|数据|数字|内容|话|引述|报道)[^，,。？?]{0,6}(?:出自|来自哪)|出自[^，,。？?]{0,12}(?:来源|文章|网站|媒体|哪里|何处|哪篇)"
    r"|\bwhich\b(?:\s+[\w']+){0,4}?\s+(?:sources?|outlets?|publications?|sites?|websites?|blogs?|posts?|reports?)\b"
    r"(?!\s+(?:code|form))|\bwho\s+(?:reported|reports|wrote|writes|said|says|announced|stated|states)\b"
    r"|\bwhere\s+(?:does|did|do)\b[^?]{0,80}?\b(?:figure|number|claim|quote|statement|information|data|statistic"
    r"|estimate|count|total)s?\b[^?]{0,60}?\b(?:comes?|came)\s+from\b"
    r"|\b(?:what|which)(?:'s|\s+is|\s+was)\s+the\s+(?:original\s+)?source\b"
    r"|\bwhich\s+(?:of\s+the\s+)?(?:documents?|files?|articles?|pages?)\s+(?:[\w']+\s+)?(?:says?|said|mentions?|"
    r"mentioned|states?|stated|reports?|reported|describes?|described|lists?|listed|claims?|claimed|announces?|"
    r"announced|writes?|wrote|notes?|noted)\b",
    re.IGNORECASE)

# The name a question asks about, just before a verb of saying ("Engadget 是怎么描述", "Google Cloud 把
# … 列为", "did the Google Open Source Blog cite") or after "according to" / 根据 (read in the question's script).
_SAID_ZH = r"说|說|称|稱|表示|报道|報道|報導|报导|描述|评价|評價|介绍|介紹|提到|写|寫|列为|列為|列出|形容|看待|解读|解讀|强调|強調"
_SAID_EN = (r"say|says|said|describe|describes|described|cite|cites|cited|use|uses|used|report|reports|reported|"
            r"call|calls|called|mention|mentions|mentioned|list|lists|listed|highlight|highlights|highlighted|"
            r"announce|announces|announced|write|writes|wrote|frame|frames|framed|put|puts|claim|claims|claimed")
_ASKED_FRAMES = [
    re.compile(r"(?i:according to|per)\s+(.{3,60}?)(?:'s?\b|,|，|$)"),
    re.compile(r"(?:据|據|根据|根據|依照|依據|按照)\s*(.{2,40}?)(?:的|,|，|$)"),
    re.compile(rf"([^，,。？?]{{2,40}}?)\s*(?:是|又|也|还|還)?\s*(?:怎么|怎麼|如何)?\s*(?:{_SAID_ZH})"),
    re.compile(rf"\b(?i:did|does|do|has|have)\s+(.{{3,60}}?)\s+(?:{_SAID_EN})\b"),
    re.compile(rf"(?<![\w'])((?:[A-Z0-9][\w.'-]*\s+){{0,5}}[A-Z0-9][\w.'-]*)\s+(?:{_SAID_EN})\b")]

# "…文章引用的哪个来源", "文中是哪个来源", "Which of the article's sources": words of the asking.
_CITED_BY = re.compile(r"(?:文章|文中|本文)(?:所?引用的|里|中|是)?|\b(?:of\s+)?the\s+(?:article|document)'s\b|\bof the\b(?=\s*$)",
                       re.IGNORECASE)


_SQUEEZED_OUT = re.compile(r"[\s\-_.'’]+")


def _squeeze(text: str) -> str:
    return _SQUEEZED_OUT.sub("", text.lower())
