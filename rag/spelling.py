"""Typing slips in a question, read as the words the index holds: an English word in lower case one
edit from an index word and in no dictionary ("laptp" -> "laptop"), and a Chinese
homophone slip of a pinyin input method, one character off a known word that sounds the same
("树梅派" -> "树莓派", "合做" -> "合作"). The known words are the index's own and those the
bridge reaches (rag/bridge.py: CC-CEDICT words whose English the index holds). The corrected
question is what retrieval searches and the model reads; the answer names it as the question looked up."""
from __future__ import annotations

import functools
import itertools
import re
import unicodedata
from pathlib import Path

from .text import HAN, HAN_RUN, STOPWORDS, han_words, to_simplified, to_traditional

_ENTRY = re.compile(r"^(\S+) (\S+) \[([^\]]*)\] /(.*)/\s*$")
_SYLLABLE = re.compile(r"^([a-z]+?)[1-5]?$")
_ENGLISH_WORD = re.compile(r"[a-z]+")
_LATIN_WORD = re.compile(r"(?<![A-Za-z0-9_\-])[A-Za-z]+(?![A-Za-z0-9_\-])")
MIN_ENGLISH = 4            # letters of the shortest English word read as a slip ("cnt" may be anything)
MAX_READINGS = 16          # pinyin spellings tried for one window of a question (polyphonic characters)
# English endings and what the dictionary's form has instead ("copies" -> "copy").
_INFLECTIONS = (("s", ""), ("es", ""), ("ies", "y"), ("d", ""), ("ed", ""), ("ied", "y"), ("ing", ""), ("ing", "e"),
                ("ly", ""), ("er", ""), ("est", ""))
WINDOWS = (4, 3, 2)        # Chinese window lengths


@functools.lru_cache(maxsize=2)
def _dictionary(path: str) -> tuple[dict[str, frozenset[str]], dict[str, str], frozenset[str]]:
    """From CC-CEDICT: each Simplified character's toneless pinyin readings, each word's own
    toneless pinyin ("shu mei pai"; its keys are the dictionary's words), and every English word
    its senses use (a word found there is spelled right, whatever the index holds)."""
    chars: dict[str, set[str]] = {}
    words: dict[str, str] = {}
    english: set[str] = set()
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = _ENTRY.match(line)
            if not m or line.startswith("#"):
                continue
            simplified, pinyin, senses = m.group(2), m.group(3).lower().split(), m.group(4)
            english.update(_ENGLISH_WORD.findall(senses.lower()))
            if not all(HAN.match(ch) for ch in simplified) or len(pinyin) != len(simplified):
                continue
            syllables = [_toneless(p) for p in pinyin]
            if len(simplified) == 1:
                chars.setdefault(simplified, set()).add(syllables[0])
            else:
                words.setdefault(simplified, " ".join(syllables))
    return {c: frozenset(r) for c, r in chars.items()}, words, frozenset(english)


def _toneless(syllable: str) -> str:
    m = _SYLLABLE.match(syllable.replace("u:", "v"))
    return m.group(1) if m else syllable


class Speller:
    """The corrections of one index: `known_zh` the Chinese words a slip may stand for, `vocab_en`
    the index's English words. Without the dictionary (`path` None) nothing is corrected."""

    def __init__(self, vocab: set[str] | frozenset[str], bridged: set[str] | frozenset[str] = frozenset(),
                 path: Path | None = None, listed: set[str] | frozenset[str] = frozenset()):
        """`vocab`: the index's keyword words; `bridged`: the Chinese words the bridge reaches; `listed`:
        the corpus term list's Chinese words (安卓), trusted as the index's own."""
        self.ready = path is not None
        if not self.ready:
            return
        self._read = functools.lru_cache(maxsize=256)(self._slips)      # this speller's own, gone with it
        self.chars, self.dictionary_words, self.english = _dictionary(str(path))
        self.index_zh = frozenset(w for w in {*vocab, *listed} if HAN.search(w))
        known = self.index_zh | {w for w in bridged if HAN.search(w)}
        self.known_zh = frozenset(w for w in known if 2 <= len(w) <= max(WINDOWS) and all(HAN.match(c) for c in w))
        self.by_sound: dict[tuple[str, ...], list[str]] = {}
        for word in self.known_zh:
            said = self.dictionary_words.get(word)
            sound = tuple(said.split()) if said else tuple(min(self.chars.get(c, {c})) for c in word)
            self.by_sound.setdefault(sound, []).append(word)
        self.vocab_en = frozenset(w for w in vocab if w.isascii() and w.isalpha() and len(w) >= MIN_ENGLISH)
        self._by_deletion: dict[str, list[str]] = {}
        for word in self.vocab_en:
            for key in _deletions(word) | {word}:
                self._by_deletion.setdefault(key, []).append(word)

    def corrections(self, question: str) -> list[tuple[str, str]]:
        """(as typed, as the index writes it) for each slip of the question, in order. One question is
        read once: the search, the model's question turn and the answer all ask for it."""
        if not self.ready:
            return []
        return list(self._read(question))

    def _slips(self, question: str) -> tuple[tuple[str, str], ...]:
        return tuple(self._english(question) + self._chinese(unicodedata.normalize("NFKC", question)))

    def corrected(self, question: str) -> tuple[str, list[str]]:
        """The question with its slips written right, and the right words (for the keyword query)."""
        fixes = self.corrections(question)
        for typed, right in fixes:
            # an English slip as a whole word: "licens" is no part of "licensor"
            question = re.sub(rf"(?<![A-Za-z]){re.escape(typed)}(?![A-Za-z])", lambda _: right, question) \
                if typed.isascii() else question.replace(typed, right)
        return question, [right for _, right in fixes]

    # --- English ---------------------------------------------------------------------

    def _english(self, question: str) -> list[tuple[str, str]]:
        out = []
        for typed in dict.fromkeys(_LATIN_WORD.findall(question)):
            word = typed.lower()
            # A capitalised word may be a name the documents lack ("Claude" is one letter off "clause"):
            # the out-of-scope check judges it as typed.
            if word != typed or len(word) < MIN_ENGLISH or word in self.vocab_en or word in STOPWORDS \
                    or self._spelled_right(word):
                continue
            found = {w for key in _deletions(word) | {word} for w in self._by_deletion.get(key, ())
                     if one_edit(word, w)}
            if len(found) == 1:
                out.append((typed, found.pop()))
        return out

    def _spelled_right(self, word: str) -> bool:
        """The dictionary uses the word or its stem ("infringes": "infringe", "copies": "copy")."""
        forms = {word} | {word[:-len(end)] + base for end, base in _INFLECTIONS if word.endswith(end)}
        return any(len(f) >= 3 and f in self.english for f in forms)

    # --- Chinese ---------------------------------------------------------------------

    def _chinese(self, text: str) -> list[tuple[str, str]]:
        """Read in Simplified; a slip typed in Traditional ("樹梅派") is given as typed, its word in
        Traditional ("樹莓派")."""
        out = []
        for typed_run in HAN_RUN.findall(text):
            run = to_simplified(typed_run)
            traditional = run != typed_run and len(run) == len(typed_run)
            words = han_words(run)
            bounds = list(itertools.accumulate(len(w) for w in words))
            starts = [0] + bounds[:-1]
            taken = -1
            # A window is whole words as jieba cut them (a slip breaks its word into pieces: 合做 as
            # 合 / 做), never part of one ("有什" of 有 / 什么 is no slip for 有失).
            for i, start in enumerate(starts):
                if start < taken:
                    continue
                for j in range(len(words) - 1, i - 1, -1):
                    window = run[start:bounds[j]]
                    if not 2 <= len(window) <= max(WINDOWS) or window in self.known_zh \
                            or window in self.dictionary_words:
                        continue
                    right = self._sounds_like(window)
                    if right is not None:
                        out.append((typed_run[start:bounds[j]], to_traditional(right)) if traditional
                                   else (window, right))
                        taken = bounds[j]
                        break
        return out

    def _sounds_like(self, window: str) -> str | None:
        """The one known word that sounds as the window does and differs from it in one character
        (a two-character window: a word of the index itself; 是从 is no slip for the dictionary's 师从)."""
        readings = [sorted(self.chars.get(c, {c})) for c in window]
        found = set()
        for sound in itertools.islice(itertools.product(*readings), MAX_READINGS):
            for word in self.by_sound.get(sound, ()):
                if sum(a != b for a, b in zip(word, window)) == 1 and (len(word) > 2 or word in self.index_zh):
                    found.add(word)
        return found.pop() if len(found) == 1 else None


def _deletions(word: str) -> set[str]:
    return {word[:i] + word[i + 1:] for i in range(len(word))}


def one_edit(a: str, b: str) -> bool:
    """`a` and `b` differ by one inserted, deleted, replaced or swapped letter."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) == 1 or (len(diff) == 2 and diff[1] == diff[0] + 1
                                  and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]])
    short, long_ = sorted((a, b), key=len)
    return any(long_[:i] + long_[i + 1:] == short for i in range(len(long_)))
