"""Hybrid retrieval: dense (FAISS over e5 vectors) and keyword (BM25 over jieba tokens of
Simplified text) fused with reciprocal-rank fusion. Across languages the bridge
(rag/bridge.py) adds Chinese words to an English question's keyword side and English words
to a Chinese one's, whose English rendering is also embedded as a third list. Hands on
ranked `Hit`s plus a relevance verdict that lets `ask` refuse without calling the model."""
from __future__ import annotations

import functools
import re
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .config import Settings
from .attribution import index_names
from .evidence import asked_terms
from .bridge import build as build_bridge
from .bridge import dictionary_path
from .profile import load as load_profile
from .spelling import Speller
from .store import IndexData
from .text import (GLUED_NUMBER, HAN, LANGUAGE_WORDS, detect_language, mainland_words, normalize, to_mainland,
                   to_simplified, tokenize)
from .types import Hit, file_stem


@dataclass
class Retrieval:
    hits: list[Hit]
    relevant: bool
    reason: str                       # why it was judged out of scope ("" when relevant)
    dense_top: float = 0.0
    keyword_top: float = 0.0
    unknown_names: list[str] = field(default_factory=list)
    seconds: float = 0.0


@functools.lru_cache(maxsize=4)
def load_glossary(path: Path) -> dict[str, list[str]]:
    glossary: dict[str, list[str]] = {}
    if not path.exists():
        return glossary
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#") or "\t" not in line:
            continue
        en, zh = line.split("\t", 1)
        glossary[en.strip().lower()] = [z.strip() for z in zh.split("|") if z.strip()]
    return glossary


def expand_query(question: str, glossary: dict[str, list[str]], cross: bool = True) -> str:
    """Add the index's own words for the words of a question: Chinese renderings of English
    words, English renderings of Chinese words (through a `Bridge`'s reverse side), and the
    term list's wording for Chinese synonyms (安卓 -> Android). `cross` False leaves the
    English renderings of a Chinese question out."""
    words = re.findall(r"[a-z][a-z\-]+", question.lower())
    extra = [zh for w in words for zh in glossary.get(w, [])]
    # "gemma4" as users type it is also looked up as the documents write it, "gemma 4".
    extra += [f"{m[1]} {m[2]}" for m in GLUED_NUMBER.finditer(question.lower())]
    simplified = normalize(question)
    extra += [t for key, terms in glossary.items() if not key.isascii() and key in simplified for t in terms]
    if cross and hasattr(glossary, "english_for"):
        extra += glossary.english_for(question)
    return question + (" " + " ".join(dict.fromkeys(extra)) if extra else "")


# Capitalised or digit-bearing names ("Llama 4", "Mistral", "MMLU", "gpt-oss") that a
# question is about. If the documents never mention one, the question is elsewhere.
_NAME = re.compile(r"[A-Za-z][A-Za-z\-]*(?:[ \-]?\d+(?:\.\d+)?[A-Za-z]*)?")
_COMMON = set("""what which who whom whose when where why how does do did is are was were can could should would
will shall may might must tell give list explain describe summarize summarise compare according please the a an
in on of for and or to by with about from as at its it this that these those there their i you we they he she
besides beyond after before since if between vs versus""".split())


# A numbered part of a document ("Section 8", "Article 5") is no name: documents number their
# parts ("8. Limitation of Liability") more often than they name them.
_PARTS = set("""section sections article articles clause clauses chapter chapters paragraph paragraphs part parts
appendix annex exhibit schedule figure table page pages step steps item items point""".split())


# Short parts that make a lower-case hyphenated word an ordinary compound ("non-exclusive",
# "co-founder", "state-of-the-art"), not a name ("gpt-oss").
_PREFIXES = set("""a an as at by co de in of on or re to up un non pre pro sub out off all end low big new old one
two day per and the via mid""".split())

# A word that says how much, how far or when before a number ("more than 400 million", "over
# 100,000", "above 4B", "the past 2 years") makes no name of it.
_BEFORE_AMOUNT = set("""than over under above below more less fewer around roughly approximately nearly almost exactly
only just least most top past last next first within every each per up down some any all both times reached reach
exceeds exceeded exceed beyond until till near circa""".split())

# Dates are not names: "January 2026" asks about a time the documents may hold as
# "January 15, 2026".
_CALENDAR = set("""january february march april may june july august september october november december
jan feb mar apr jun jul aug sep sept oct nov dec monday tuesday wednesday thursday friday saturday sunday
q1 q2 q3 q4""".split())


def unknown_names(question: str, corpus_text: str, common: frozenset = frozenset(),
                  initials: frozenset = frozenset()) -> list[str]:
    """Names in the question that the corpus never mentions; `common`: the profile's words
    that read like names but are no subject of their own (a vendor's name); `initials`: the
    `acronyms` of the corpus's titles ("MPL" names the "Mozilla Public License" it holds)."""
    text = unicodedata.normalize("NFKC", question)
    # Chinese text has no capitals of its own: a capitalised Latin word in it is a name also where
    # it opens the question ("Llama 授權允許…嗎？").
    chinese = HAN.search(text) is not None
    # A title-cased question ("What Does The License Say About Patents?") capitalises every word:
    # there a capital says nothing, and only a digit or an odd case ("MMLU", "Llama 4") marks a name.
    titled = _title_cased(text)
    names = []
    for i, m in enumerate(_NAME.finditer(text)):
        name = m.group(0)
        word = name.split()[0].lower()
        has_digit = any(ch.isdigit() for ch in name)
        odd_case = any(ch.isupper() for ch in name[1:]) or _odd_compound(name)
        capital_inside = name[0].isupper() and not titled and \
            (chinese or m.start() > 0 and not _sentence_start(text, m.start()))
        if word in _COMMON or word in common or word in _CALENDAR or not (has_digit or odd_case or capital_inside) \
                or word in _BEFORE_AMOUNT and not capital_inside and not _odd_word(name.split()[0]):
            continue
        if word in _PARTS and has_digit or word in LANGUAGE_WORDS and re.match(r" +[a-z]", text[m.end():]):
            continue              # "Section 8"; a language before the word it describes ("the Chinese article")
        if not _mentions(corpus_text, _described(name)) and not _initials_known(name, initials):
            names.append(name)
    # A title of several words ("Gemma Terms of Use") is a name of its own: the documents may
    # mention each word ("Gemma", "Terms") and never the thing it names. A title-cased question
    # has no titles to tell by their capitals.
    for phrase in [] if titled else _phrases(text):
        if not any(n in phrase for n in names) and not _mentions(corpus_text, phrase):
            names.append(phrase)
    return names


def versioned(name: str) -> tuple[str, str]:
    """A document's name as (name, version), lower case, without the spaces, hyphens and "v" or
    "version" between ("GPL-3", "GPLv3", "GPL version 3": ("gpl", "3"); "MPL-2.0", "MPL 2": ("mpl", "2");
    "LGPL-2.1": ("lgpl", "2.1"); "BSD": ("bsd", ""))."""
    m = _VERSIONED.fullmatch(name.strip())
    if m is None:
        return re.sub(r"[\s_\-]+", "", name.lower()), ""
    return m.group(1).lower(), re.sub(r"(?:\.0)+$", "", m.group(2) or "")


def named_files(question: str, file_names: dict[str, tuple[str, str]]) -> set[str]:
    """The documents whose file name the question names ("Under GPLv3, …" names GPL-3.txt; "the GPL"
    names GPL-2.txt and GPL-3.txt; "Which file …" names none): a name of three or more letters (or
    with a digit) that is a file's name, its version, when the question gives one, the file's; a name
    the question also gives with a version counts only with it."""
    said = [versioned(m.group(0)) for m in _VERSIONED_IN.finditer(question)]
    said = [(name, version) for name, version in said if len(name) >= 3 or re.search(r"\d", name)]
    given = {name for name, version in said if version}      # "Under Kettle v3 … the kettle": the v3 one
    return {doc for name, version in said if version or name not in given
            for doc, (file, file_version) in file_names.items() if file == name and (not version or version == file_version)}


_VERSIONED = re.compile(r"([A-Za-z][A-Za-z0-9]*?)(?:[\s_\-]*(?:v|version)?[\s_\-]*(\d+(?:\.\d+)*))?", re.IGNORECASE)
_VERSIONED_IN = re.compile(r"(?<![A-Za-z0-9])[A-Za-z][A-Za-z0-9]*(?:[\s_\-]*(?:v|version)?[\s_\-]*\d+(?:\.\d+)*)?"
                           r"(?![A-Za-z0-9])", re.IGNORECASE)


def acronyms(text: str) -> frozenset[str]:
    """The initials of the runs of two or more capitalised words in `text`, and of their first and
    last words ("Mozilla Public License Version": MPLV, MPL; "Lesser General Public License": LGPL,
    GPL), that a question may name the thing by. A small word breaks a run: "Grant of Patent
    License" is no GPL."""
    out: set[str] = set()
    for m in _TITLE_RUN.finditer(text):
        heads = "".join(w[0] for w in re.split(r"[ \-]+", m.group(0)))
        out.update(heads[:j] for j in range(2, len(heads) + 1))
        out.update(heads[i:] for i in range(len(heads) - 1))
    return frozenset(out)


def _initials_known(name: str, initials: frozenset) -> bool:
    """The name opens with an acronym of three or more letters ("MPL 2.0", "GPLv3") the corpus holds the
    words of."""
    m = re.match(r"([A-Z]{3,8})(?:s|v\d[\d.]*)?(?![A-Za-z])", name)
    return m is not None and m.group(1) in initials


_TITLE_RUN = re.compile(r"\b[A-Z][a-z]+(?:[ \-]+[A-Z][a-z]+){1,7}")


def unknown_terms(question: str, corpus_text: str, lexicon, initials: frozenset = frozenset()) -> list[str]:
    """The terms a question asks the meaning of ("What does 'copyleft' mean …?", "「傳染性」是什麼意思？")
    that the corpus never mentions: a quoted or bracketed term, or one word of the question's frame.
    An English term is looked for as itself or without its plural s; a Chinese one as any of its
    words, or any English word of the index they render (`lexicon`, the bridge); an acronym also as
    the initials of a title the corpus holds (`initials`, see `acronyms`). [] when the
    question asks no meaning or any one of its terms is mentioned ("“目标形式”(Object form)")."""
    terms = asked_terms(question)
    quoted = to_simplified(question)
    if not terms or any(len(t.split()) > 1 and not re.search(rf"[\"“「『'‘(（]{re.escape(t)}", quoted) for t in terms):
        return []
    for term in terms:
        if HAN.search(term):
            words = [w for w in tokenize(term) if len(w) >= 2 and HAN.search(w)]
            english = lexicon.english_for(term) if hasattr(lexicon, "english_for") else []
            if not words or any(normalize(w) in corpus_text for w in words) or english:
                return []
        elif _mentions(corpus_text, term) or _mentions(corpus_text, re.sub(r"(?<=[a-z])s$", "", term)) \
                or _initials_known(term, initials):
            return []
    return terms


def _odd_word(word: str) -> bool:
    """A word written as a name: a capital inside ("DeepSeek"), or odd short parts ("gpt-oss")."""
    return any(ch.isupper() for ch in word[1:]) or _odd_compound(word)


def _described(name: str) -> str:
    """A name with the ordinary lower-case words a hyphen joins to it ("Apache-licensed", "Gemma-based")
    taken off: the documents name "Apache", and seldom the compound."""
    parts = name.split("-")
    while len(parts) > 1 and parts[-1].isalpha() and parts[-1].islower() and not _odd_compound("-".join(parts[-2:])):
        parts.pop()
    return "-".join(parts)


def _odd_compound(name: str) -> bool:
    """A hyphenated word that reads as a name by its short parts ("gpt-oss"), not "long-standing" or
    "community-made", whose parts are ordinary words (of four letters or more, or a common prefix or
    small word: "non-exclusive"). Capitals inside ("DeepSeek-V3") are judged by the caller."""
    parts = name.split("-")
    if len(parts) < 2:
        return False
    return any(len(p) < 4 and p.lower() not in _PREFIXES for p in parts if p)


def _phrases(text: str) -> list[str]:
    """Titles of several capitalised words joined by "of" or "for" ("Gemma Terms of Use", "Google
    AI for Developers"), none of them a question word or "I", a possessive ending the run. Only
    such titles: a run of capitalised words alone is often a description of something the
    documents hold under another name ("the Google Cloud Blog")."""
    words = _PHRASE_WORD.findall(text)
    out: list[str] = []
    run: list[str] = []
    link: list[str] = []
    for word in words + [""]:
        base = re.sub(r"['’]s?$", "", word)
        if base[:1].isupper() and base.lower() not in _COMMON and base != "I":
            run += link + [base]
            link = []
            if base == word:
                continue
        elif run and not link and base in _LINKING:
            link = [base]
            continue
        if len(run) >= 3 and any(w in _LINKING for w in run):
            out.append(" ".join(run))
        run, link = [], []
    return out


def _title_cased(text: str) -> bool:
    """Most of the question's small words after the first ("does", "the", "of") are capitalised."""
    small = [w for w in _PHRASE_WORD.findall(text)[1:] if w.lower() in _COMMON or w.lower() in _LINKING]
    return bool(small) and sum(w[:1].isupper() for w in small) * 2 > len(small)


_PHRASE_WORD = re.compile(r"[A-Za-z][A-Za-z\-]*(?:['’]s?)?|\S")
_LINKING = frozenset({"of", "for"})


def _mentions(corpus_text: str, name: str) -> bool:
    """Whether the corpus names `name` as a word of its own, case, spaces and hyphens inside it
    optional ("Gemma4" in "Gemma 4"), a plural allowed: "MIT" is not in "submit", nor
    "GPL" in "sharing plans"; a digit before it is no word ("to5google" of "9to5Google")."""
    key = re.sub(r"[\s\-]+", "", name.lower())
    inner = r"[\s\-]?".join(re.escape(ch) for ch in key)
    edge = r"[a-z]" if key[:1].isascii() and key[:1].isalpha() else r"(?!)"   # "to5google" in "9to5google"
    return re.search(rf"(?<!{edge}){inner}(?:e?s)?(?![a-z0-9])", corpus_text) is not None


def _sentence_start(text: str, pos: int) -> bool:
    before = text[:pos].rstrip()
    return not before or before[-1] in ".?!。？！:：\"“"


# A chunk is the same passage as one ranked above it when that one holds this share of its
# words (of the smaller one's): a licence added twice, in two layouts, with chunks cut at
# other places (docs/EVAL.md, "Citations chosen with the question, an echoed yes or no,
# distinct passages").
_SAME_SHARE = 0.8


class Retriever:
    def __init__(self, data: IndexData, embedder, settings: Settings):
        self.data = data
        self.embedder = embedder
        self.settings = settings
        self.profile = load_profile(str(settings.corpus_dir))
        # A document is also known by its file's name ("BSD.txt" holds a licence whose text never says BSD).
        joined = "\n".join([d.title for d in data.documents.values()] + [c.text for c in data.chunks]
                            + [file_stem(d.origin) for d in data.documents.values() if d.origin])
        self.corpus_key = re.sub(r"\s+", " ", normalize(joined))
        self.initials = acronyms(joined)
        self.vocab = set(getattr(data.bm25, "vocab_dict", {}) or {})
        terms = load_glossary(self.profile.glossary) if self.profile.glossary else {}
        # `glossary`: the cross-language bridge (rag/bridge.py), the term list merged in
        self.glossary = build_bridge(frozenset(self.vocab), terms) if settings.bridge else terms
        # Words a typing slip may stand for: the index's, the term list's and the Chinese words the bridge reaches.
        self.speller = Speller(self.vocab, set(getattr(self.glossary, "reverse", {})),
                               dictionary_path() if settings.spelling else None,
                               listed={w for w in terms if not w.isascii()})
        self._word_sets: dict[int, set[str]] = {}
        # Each document's file name read as a name and a version ("GPL-3.txt": gpl, 3), for questions that
        # name the document they ask about ("Under GPLv3, …").
        self.file_names = {d.doc_id: versioned(file_stem(d.origin)) for d in data.documents.values() if d.origin}
        # Built here, with the version, rather than by its first answer that credits a source.
        index_names(data.documents)

    # --- the two sides -------------------------------------------------------------

    def dense(self, question: str, n: int) -> list[tuple[int, float]]:
        return self.nearest(self.embed(question), n)

    def embed(self, question: str) -> np.ndarray:
        return self.embedder.query(question).reshape(-1).astype(np.float32)

    def nearest(self, vector: np.ndarray, n: int) -> list[tuple[int, float]]:
        """The `n` chunks closest to a question's embedding."""
        if not self.data.chunks:
            return []
        scores, ids = self.data.faiss_index.search(vector.reshape(1, -1), min(n, len(self.data.chunks)))
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]

    def within(self, vector: np.ndarray, doc_ids: set[str]) -> list[tuple[int, float]]:
        """The chunks of the documents `doc_ids`, closest to a question's embedding first."""
        own = self.data.positions_of(doc_ids)
        scores = self.data.vectors[own] @ vector if own else np.zeros(0)
        return [(own[j], float(scores[j])) for j in np.argsort(-scores)]

    def keyword(self, question: str, n: int) -> list[tuple[int, float]]:
        if not self.data.chunks:
            return []
        tokens = [t for t in tokenize(question) if t in self.vocab]
        if not tokens:
            return []
        scores = np.asarray(self.data.bm25.get_scores(tokens))
        order = np.argsort(-scores)[:n]
        return [(int(i), float(scores[i])) for i in order if scores[i] > 0]

    # --- fused -----------------------------------------------------------------------

    def search(self, question: str, k: int | None = None, mode: str = "hybrid",
               also: str | None = None, glossary: dict | None = None) -> Retrieval:
        """`also`: a second rendering of the question (e.g. a model translation) whose
        result lists are fused in as well. `glossary`: the cross-language word lists to use
        instead of the retriever's own (`{}`: none; `rag eval` compares the variants)."""
        lexicon = self.glossary if glossary is None else glossary
        started = time.perf_counter()
        k = k or self.settings.k
        n = max(30, k * 4)
        lists, asked = [], None
        for turn, query in enumerate([question] + ([also] if also else [])):
            # The corpus is Simplified: a Traditional question embeds closer once converted, in mainland
            # phrasing ("上下文視窗" as "上下文窗口"), and its keywords gain the mainland words.
            traditional = detect_language(query) == "zh-Hant"
            mainland = mainland_words(query) if traditional else ""
            # A typing slip is searched as the word it stands for; the words as typed stay in the keyword query.
            spelled, fixes = self.speller.corrected(query)
            keyword_query = expand_query(" ".join([query, mainland, *fixes]).strip(), lexicon)
            dense_query = to_mainland(spelled) if traditional else spelled
            vector = self.embed(dense_query) if mode in ("hybrid", "dense") and self.data.chunks else None
            asked = vector if turn == 0 else asked        # the question's own embedding, for `within`
            dense = self.nearest(vector, n) if vector is not None else []
            keyword = self.keyword(keyword_query, n) if mode in ("hybrid", "bm25") else []
            lists += [(self.settings.dense_weight, dense), (self.settings.bm25_weight, keyword)]
            # A Chinese question's English renderings (the bridge's word-by-word translation)
            # are embedded as a query of their own: English text the multilingual embedder
            # ranks low for the Chinese wording ranks higher for its English words.
            crossing = lexicon.english_for(query) if hasattr(lexicon, "english_for") \
                and HAN.search(query) and mode in ("hybrid", "dense") and self.settings.cross_dense_weight > 0 else []
            if crossing:
                lists.append((self.settings.cross_dense_weight, self.dense(" ".join(crossing), n)))
        dense, keyword = lists[0][1], lists[1][1]
        named = named_files(question, self.file_names) if asked is not None else set()
        if named and self.settings.named_weight > 0 and len(named) < len(self.data.documents):
            lists.append((self.settings.named_weight, self.within(asked, named)))
        fused: dict[int, float] = {}
        for weight, ranked in lists:
            for rank, (i, _) in enumerate(ranked):
                fused[i] = fused.get(i, 0.0) + weight / (self.settings.rrf_k + rank + 1)
        order = self._distinct(sorted(fused, key=lambda i: -fused[i]), k)
        hits = [self.hit(i, fused[i]) for i in order]
        dense_top = dense[0][1] if dense else 0.0
        keyword_top = keyword[0][1] if keyword else 0.0
        names = unknown_names(question, self.corpus_key, self.profile.common_words, self.initials)
        names += [t for t in unknown_terms(question, self.corpus_key, lexicon, self.initials) if t not in names]
        relevant, reason = self._judge(dense_top, keyword_top, names, hits)
        return Retrieval(hits, relevant, reason, dense_top, keyword_top, names, time.perf_counter() - started)

    def _distinct(self, ranked: list[int], k: int) -> list[int]:
        """The first `k` of `ranked`, skipping a chunk whose words another chosen chunk
        nearly all holds: the same passage in two documents (a licence added twice, a page
        as HTML and PDF) would take two of the k places with one text."""
        chosen: list[int] = []
        words: list[set[str]] = []
        for i in ranked:
            w = self._words(i)
            if any(len(w & other) >= _SAME_SHARE * min(len(w), len(other)) for other in words if w and other):
                continue
            chosen.append(i)
            words.append(w)
            if len(chosen) == k:
                break
        return chosen

    def _words(self, i: int) -> set[str]:
        cached = self._word_sets.get(i)
        if cached is None:
            cached = self._word_sets[i] = {t for t in tokenize(self.data.chunks[i].text) if "_" not in t}
        return cached

    def _judge(self, dense_top: float, keyword_top: float, names: list[str], hits: list[Hit]) -> tuple[bool, str]:
        if not hits:
            return False, "nothing in the documents matches"
        if names:
            return False, "the documents never mention " + ", ".join(names)
        # No shared keyword and only a middling dense match, or a weak dense match at all.
        if (keyword_top <= 0 and dense_top < self.settings.min_relevance + 0.05) or dense_top < self.settings.min_relevance:
            return False, f"no passage is close enough (best similarity {dense_top:.2f})"
        return True, ""

    def hit(self, i: int, score: float) -> Hit:
        """The chunk at index position `i` as a Hit with its document's title and URL."""
        c = self.data.chunks[i]
        doc = self.data.documents.get(c.doc_id)
        pages = doc.pages_of(c.start, c.end) if doc else None
        return Hit(chunk_id=c.chunk_id, doc_id=c.doc_id, title=doc.title if doc else c.doc_id,
                   url=doc.url if doc else None, text=c.text, start=c.start, end=c.end, score=round(score, 6),
                   page=pages[0] if pages else None,
                   last_page=pages[1] if pages and pages[1] != pages[0] else None, section=c.section)
