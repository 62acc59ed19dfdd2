"""How well a passage backs a sentence: the sentence's key terms (words, numbers, Chinese
bigrams) found in the passage, where every number, amount (4 亿 = 400 million) and measure
(256K, E2B) must match, and a word in the other language counts through the cross-language
word lists. The citation check (cite.py) and the evidence sentence (evidence.py) both score
with it."""
from __future__ import annotations

import functools
import re
from difflib import SequenceMatcher
from typing import NamedTuple

from .attribution import uncredited
from .text import (FOOTNOTE, GLUED_NUMBER, HAN, HAN_CHARS, HAN_RUN, LANGUAGE_WORDS, MARKER, STOPWORDS, is_traditional,
                   normalize, to_mainland, to_simplified, tokenize)


def key_terms(text: str) -> set[str]:
    """Words and numbers that carry the claim: tokens minus markers, plus Chinese
    bigrams so that paraphrases with shared characters still match."""
    plain = MARKER.sub(" ", text)
    terms = {t for t in tokenize(plain) if (len(t) > 1 or t.isdigit()) and "_" not in t}
    # Bigrams are taken inside a run of Chinese characters: "2026 年 4 月 2 日" yields no "年月",
    # which no passage can contain.
    for run in HAN_RUN.findall(normalize(plain)):
        terms |= {run[i:i + 2] for i in range(len(run) - 1)}
    return terms


# 256k, 31b, 4gb, e2b, a4b: a number with a unit, or a size name; not "9to5google"
_MEASURE = re.compile(r"\d+(?:\.\d+)?(?:[kmbgt]b?|x|ms|s)|[a-z]\d+[a-z]?")
_AMOUNT = re.compile(r"(\d+(?:[.,]\d+)*)\s*(万|亿|thousand|million|billion)", re.IGNORECASE)
SCALE = {"万": 1e4, "亿": 1e8, "thousand": 1e3, "million": 1e6, "billion": 1e9}


def amounts(text: str) -> set[float]:
    """Quantities written with a unit word: "4 亿" and "400 million" are both 4e8."""
    out = set()
    for number, unit in _AMOUNT.findall(text):
        try:
            out.add(round(float(number.replace(",", "")) * SCALE[unit.lower()]))
        except ValueError:
            continue
    return out


MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
           "november", "december")


# A number standing alone ("Gemma 4", "2026 年", "4 亿"): numbers inside names such as
# E2B or 256K are checked whole, as measures.
_ALONE = r"(?<![A-Za-z0-9.,])({})(?![A-Za-z0-9]|[.,]\d)"


def _standalone_numbers(text: str) -> set[str]:
    return set(re.findall(_ALONE.format(r"\d+(?:[.,]\d+)?"), text))


def _value(number: str) -> str:
    """"02" and "2", "100,000" and "100000" are the same number."""
    plain = number.replace(",", "")
    try:
        return f"{float(plain):g}"
    except ValueError:
        return plain


def _number_values(text: str) -> set[str]:
    """The values of the numbers standing alone in `text`, those spelt out in English words
    included: a licence's "ten lines" or "sixty days" backs an answer's "10 行" or "60 天"."""
    words = {_value(str(NUMBER_WORDS[w])) for w in _NUMBER_WORD.findall(text)}
    return {_value(n) for n in _standalone_numbers(_AMOUNT.sub(" ", text))} | words


NUMBER_WORDS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty".split())} | {"thirty": 30, "forty": 40, "fifty": 50, "sixty": 60,
                                                      "seventy": 70, "eighty": 80, "ninety": 90, "hundred": 100}
_NUMBER_WORD = re.compile(r"(?<![a-z-])(" + "|".join(NUMBER_WORDS) + r")(?![a-z-])")


# A number in a document's name ("Version 2.0", "LGPL-2.1"), read as written.
_NAME_NUMBER = re.compile(r"\d+(?:\.\d+)*")


def name_numbers(name: str) -> str:
    """The numbers of a name, as a name of their own ("GNU LGPL (LGPL-2.1)": "2.1")."""
    return " ".join(_NAME_NUMBER.findall(normalize(name)))


# A number after a capitalised word is part of a name ("Gemma 4", "Android 10", "Apache 2.0"), unless
# the word is a month or points into a document ("Section 4", "Version 2.0").
_NAMED_NUMBER = re.compile(r"\b([A-Z][A-Za-z]*)\s+(\d+(?:\.\d+)?)(?![A-Za-z0-9]|[.,]\d)")
_MONTH_WORDS = {m[:3] for m in MONTHS} | set(MONTHS) | {"sept"}
_NOT_NAMES = _MONTH_WORDS | {"section", "sections", "version", "article", "chapter", "part", "clause", "step", "page",
                            "figure", "table", "appendix", "item", "paragraph", "no", "number", "schedule", "exhibit",
                            "annex"}


def _is_named(m: re.Match) -> bool:
    return m.group(1).lower() not in _NOT_NAMES and m.group(1).lower() not in STOPWORDS


def _name_only(m: re.Match) -> str:
    """A name's number taken out ("Gemma 4" -> "Gemma "), other numbers kept."""
    return m.group(1) + " " if _is_named(m) else m.group(0)


# A name in a sentence: a word with a capital inside it or digits among its letters ("TranslateGemma",
# "9to5Google", "AICore"), or a capitalised word after another word ("by Engadget", "Engadget 报道"
# in a Chinese sentence, where no word is capitalised for starting it).
_INNER_CAPITAL = re.compile(r"(?<![A-Za-z0-9])([A-Za-z0-9]*[a-z0-9][A-Z][A-Za-z0-9]*)(?![A-Za-z0-9])")
_CAPITALISED = re.compile(r"(?<![A-Za-z0-9])([A-Z][a-z]{2,})(?![A-Za-z0-9])")
_NO_NAMES = STOPWORDS | LANGUAGE_WORDS | _MONTH_WORDS


def names_in(sentence: str) -> dict[str, bool]:
    """The names a sentence holds, normalized, each with whether it is written as nothing but a name
    (a capital inside, or digits: "TranslateGemma", "9to5Google"), not as a capitalised word
    ("Engadget", but also the "Store" of "Google Play Store")."""
    han = bool(HAN.search(sentence))
    out = {normalize(m.group(1)): True for m in _INNER_CAPITAL.finditer(sentence)}
    for m in _CAPITALISED.finditer(sentence):
        if han or re.search(r"[A-Za-z0-9,] $", sentence[:m.start()]):
            out.setdefault(normalize(m.group(1)), False)
    return {n: strict for n, strict in out.items() if n not in _NO_NAMES}


def name_word(name: str) -> str:
    """The pattern of a normalized name as a word of lower-case text, a plural allowed (not "pro" in "provide")."""
    return rf"(?<![a-z0-9]){re.escape(name)}(?:e?s)?(?![a-z0-9])"


def _holds_name(name: str, text_norm: str, glossary: dict[str, list[str]]) -> bool:
    return bool(re.search(name_word(name), text_norm)) or any(r.lower() in text_norm for r in glossary.get(name, ()))


def names_lacking(names: list[str], text: str, glossary: dict[str, list[str]] | None = None) -> list[str]:
    """Those of `names` (normalized, from `names_in`) that `text` does not hold, as `_names_missing` reads them."""
    text_norm = normalize(text)
    return [n for n in names if not _holds_name(n, text_norm, glossary or _NO_GLOSSARY)]


def _names_missing(sentence: str, chunk_norm: str, glossary: dict[str, list[str]]) -> bool:
    """The chunk lacks a name the sentence holds ("TranslateGemma 能翻译 4 种语言" against a passage
    on Gemma 4's languages): one written only as a name, or two capitalised words and half of them (one
    alone may be a licence's defined term its clause does not repeat: "a Contributor must own 50%").
    (The caller leaves out the document a sentence credits: "According to Quokka Weekly, …" is checked
    by its claim.) A name counts as a word of the chunk, a plural allowed (not "Pro" in "provide"), or
    through the glossary (Google / 谷歌)."""
    names = names_in(sentence)
    missing = [n for n in names if not _holds_name(n, chunk_norm, glossary)]
    plain = [n for n in missing if not names[n]]
    return len(plain) < len(missing) or len(plain) >= 2 and 2 * len(plain) >= len(names)


def _has_number(number: str, values: set[str], text: str) -> bool:
    """`number` stands alone somewhere in `text`, whose standalone numbers are `values`
    ("2" is in "4 月 2 日" and "02 April", not in "2026", "2.5" or "E2B"), or is a month
    named in English ("1" is in "January 15, 2026")."""
    if _value(number) in values:
        return True
    return number.isdigit() and 1 <= int(number) <= 12 and MONTHS[int(number) - 1] in text


def support(sentence: str, chunk_text: str, glossary: dict[str, list[str]] | None = None, name: str = "") -> float:
    """How well the chunk backs the sentence, 0..1: the share of the sentence's key terms
    found in the chunk, where every number must match. Across languages a word counts
    through the glossary (English word -> the article's Chinese terms, and back); a word
    with no rendering cannot be checked against a chunk in the other language and is left
    out rather than held against it. `name`: the name the chunk is read under (its document's
    title), whose words count as the chunk's and whose numbers count as written ("2.1" backs
    "LGPL 2.1", "Apache 2.0" no "4 月 2 日")."""
    return support_scores(sentence, chunk_text, glossary, name=name, check_names=True)[0]


def rank_support(sentence: str, chunk_text: str, glossary: dict[str, list[str]] | None = None,
                 inflected: bool = False) -> float:
    """`support` for choosing among chunks: a word that cannot be checked counts half
    against the chunk, so that a chunk in the other language that shares only "Gemma 4"
    with a sentence does not outrank the chunk that states the claim. `inflected`: an English word
    also counts in another form ("warranty" in "warranties", "provided" in "provides")."""
    return support_scores(sentence, chunk_text, glossary, inflected)[1]


class Backing(NamedTuple):
    support: float        # `support`
    rank: float           # `rank_support`
    words: int            # the sentence's words found in the chunk (numbers not counted)


def support_scores(sentence: str, chunk_text: str, glossary: dict[str, list[str]] | None,
                   inflected: bool = False, name: str = "", check_names: bool = False) -> Backing:
    """`support`, `rank_support` and the words found, in one pass (`name`: see `support`).
    `check_names`: a name the sentence holds must be in the chunk (or its `name`), as `support` asks;
    ranking (`rank_support`: a question's words against a sentence, too) does not. A Traditional
    sentence is read in mainland phrasing where the chunk uses it ("部落格" as the chunk's "博客",
    `text.to_mainland`)."""
    chunk_text = FOOTNOTE.sub(" ", chunk_text)          # a footnote's [5] states no five
    chunk_norm = normalize(chunk_text)
    variants = _mainland_variants(sentence)
    if variants is not None:
        sentence = _reading(variants, chunk_norm)
    if GLUED_NUMBER.search(sentence):
        sentence = _unglued(sentence, chunk_text)
    return _support_scores(sentence, chunk_text, chunk_norm, glossary, inflected, name, check_names)


def _unglued(sentence: str, chunk_text: str) -> str:
    """The sentence with each glued name written as the chunk writes the name ("gemma4" -> "Gemma 4"),
    its number then checked like any name's ("gemma5" against "Gemma 4" is "Gemma 5")."""
    def spaced(m: re.Match) -> str:
        found = re.search(rf"(?<![A-Za-z0-9])({re.escape(m[1])})(?![A-Za-z])", chunk_text, re.IGNORECASE)
        return f"{found.group(1)} {m[2]}" if found else m.group(0)
    return GLUED_NUMBER.sub(spaced, sentence)


@functools.lru_cache(maxsize=4096)
def _mainland_variants(sentence: str) -> tuple[str, tuple[tuple[int, int, str], ...]] | None:
    """A Traditional sentence as Simplified (`to_simplified`) with the spans mainland phrasing words
    otherwise (start, end, mainland words): "上下文視窗" -> ("上下文视窗", ((3, 5, "窗口"),)). None for
    a sentence that is not Traditional or reads the same."""
    if not is_traditional(sentence):
        return None
    plain, mainland = to_simplified(sentence), to_simplified(to_mainland(sentence))
    if plain == mainland:
        return None
    # [op, i1, i2, j1, j2]; a deletion and an insertion one character apart are one word moved
    # ("视窗" -> "窗口", "建立" -> "创建"), merged.
    spans: list[list] = []
    for op, i1, i2, j1, j2 in SequenceMatcher(None, plain, mainland, autojunk=False).get_opcodes():
        if op == "equal":
            continue
        if spans and {op, spans[-1][0]} == {"insert", "delete"} and i1 - spans[-1][2] <= 1 and j1 - spans[-1][4] <= 1:
            spans[-1][0], spans[-1][2], spans[-1][4] = "replace", i2, j2
        else:
            spans.append([op, i1, i2, j1, j2])
    return plain, tuple((i1, i2, mainland[j1:j2]) for _, i1, i2, j1, j2 in spans)


def _reading(variants: tuple[str, tuple[tuple[int, int, str], ...]], chunk_norm: str) -> str:
    """The sentence with each span in the mainland words where the chunk holds those and not the
    Traditional ones converted ("部落格" where the chunk says "博客"; "建立" kept where it says "建立")."""
    plain, spans = variants
    out, last = [], 0
    for i1, i2, words in spans:
        own = plain[i1:i2]
        use = words if words and words.lower() in chunk_norm and not (own and own.lower() in chunk_norm) else own
        out.append(plain[last:i1] + use)
        last = i2
    return "".join(out) + plain[last:]


def _support_scores(sentence: str, chunk_text: str, chunk_norm: str, glossary: dict[str, list[str]] | None,
                    inflected: bool, name: str, check_names: bool) -> Backing:
    """`support_scores` of a sentence as read against this chunk (its footnote marks dropped, and normalized)."""
    plain = MARKER.sub(" ", sentence)
    values = _number_values(chunk_norm)
    named = set(name_numbers(name).split())
    # A number with a scale word ("10 万", "10 萬", "400 million") is checked as an amount below,
    # whole: "10" alone ("Android 10") is not in "10 万". A number that is part of a name ("Gemma 4")
    # backs the same name, not a count ("4 种语言" is not in "Gemma 4 … 140 多种语言").
    said = normalize(plain)
    own_names = {_value(m.group(2)) for m in _NAMED_NUMBER.finditer(plain) if _is_named(m)}
    numbers = _standalone_numbers(_AMOUNT.sub(" ", said))
    # The chunk's numbers outside names, read only when the sentence has a number of its own.
    counts = _number_values(normalize(_NAMED_NUMBER.sub(_name_only, chunk_text))) \
        if any(_value(num) not in own_names for num in numbers) else set()
    if not all(_has_number(num, values if _value(num) in own_names else counts, chunk_norm) or num in named
               for num in numbers):
        return Backing(0.0, 0.0, 0)
    if name:
        chunk_norm += "\n" + normalize(name)
    glossary = glossary if glossary is not None else _NO_GLOSSARY    # an empty Bridge still has a reverse side
    if check_names and _names_missing(uncredited(plain), chunk_norm, glossary):
        return Backing(0.0, 0.0, 0)        # "TranslateGemma …" backed by a passage that never names it
    if not amounts(said) <= amounts(chunk_norm):
        return Backing(0.0, 0.0, 0)        # "4 billion" where the chunk says 4 亿 (400 million)
    if any(t not in chunk_norm for t in tokenize(plain) if "_" not in t and _MEASURE.fullmatch(t)):
        return Backing(0.0, 0.0, 0)        # "256MB" where the chunk says 256K
    reverse = _reverse(glossary)
    chunk_han = len(HAN.findall(chunk_norm)) >= 0.2 * len(re.findall(f"[a-z{HAN_CHARS}]", chunk_norm) or [1])
    counted = found = unchecked = words = 0
    for term in key_terms(sentence):
        if term in chunk_norm or (inflected and stem(term) in chunk_norm) or (term.isdigit() and _value(term) in values):
            counted += 1
            found += 1
            words += not term.isdigit()
            continue
        han = bool(HAN.search(term))
        renderings = reverse.get(term, ()) if han else glossary.get(term, ())
        if renderings:
            counted += 1
            hit = any(r.lower() in chunk_norm for r in renderings)
            found += hit
            words += hit
        elif han != chunk_han and not any(ch.isdigit() for ch in term):
            unchecked += 1                 # other language, no rendering
        else:
            counted += 1
    if counted == 0:
        return Backing(0.35, 0.35 / (1 + 0.5 * unchecked), 0)     # nothing checkable beyond matching numbers
    return Backing(found / counted, found / (counted + 0.5 * unchecked), words)


def stem(word: str) -> str:
    """An English word without its inflection ("warranties" -> "warranti", "provided" -> "provid"),
    kept at 4 letters or more; other words as they are."""
    if word.isascii() and word.isalpha():
        for suffix in _SUFFIXES:
            if word.endswith(suffix) and len(word) - len(suffix) >= 4:
                return word[:-len(suffix)]
    return word


_SUFFIXES = ("ies", "ied", "ing", "ed", "es", "s", "y", "e")

# id(glossary) -> (glossary, reverse). Holding the glossary itself keeps its id from being
# reused by another dict while the entry exists.
_REVERSE_CACHE: dict[int, tuple[dict, dict[str, list[str]]]] = {}
_NO_GLOSSARY: dict[str, list[str]] = {}


def _reverse(glossary: dict[str, list[str]]) -> dict[str, list[str]]:
    """Chinese term -> the English words the glossary renders with it (a `Bridge` carries
    its own, wider reverse side)."""
    if hasattr(glossary, "reverse"):
        return glossary.reverse
    cached = _REVERSE_CACHE.get(id(glossary))
    if cached is None or cached[0] is not glossary:
        reverse: dict[str, list[str]] = {}
        for en, zhs in glossary.items():
            if en.isascii():
                for zh in zhs:
                    reverse.setdefault(normalize(zh), []).append(en)
        cached = _REVERSE_CACHE[id(glossary)] = (glossary, reverse)
    return cached[1]
