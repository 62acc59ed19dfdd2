"""Text helpers shared by every stage: the Han-character and footnote patterns, the one
sentence splitter, script conversion (OpenCC), language detection, and the keyword tokens
BM25 indexes (jieba for Han runs, model names such as "26B A4B", "E2B", "256K" and
"Apache 2.0" kept whole)."""
from __future__ import annotations

import functools
import logging
import re
import unicodedata

HAN_CHARS = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"    # CJK ideographs, extension A, compatibility
HAN = re.compile(f"[{HAN_CHARS}]")
HAN_RUN = re.compile(f"[{HAN_CHARS}]+")
# One marker group: [1], [1, 2], 【1】, (1), （1）. Numbers separated by , ， 、 or spaces.
# In parentheses only small numbers count, and a comma must be followed by a space, so
# "(100,000)" or "(2026)" in prose is never taken for a citation.
MARKER = re.compile(r"\[\s*(\d{1,3}(?:\s*[,，、]\s*\d{1,3})*)\s*\]|【\s*(\d{1,3}(?:\s*[,，、]\s*\d{1,3})*)\s*】"
                    r"|[(（]\s*(\d{1,2}(?:(?:,\s+|\s*[，、]\s*)\d{1,2})*)\s*[)）]")
# The article's own footnote markers ("...家族。[4][5][6]"); an answer's [n] markers are MARKER above.
FOOTNOTE_MARK = r"\[\d{1,2}\]"
FOOTNOTE = re.compile(r"\[(\d{1,2})\]")
FOOTNOTE_RUN = re.compile(f"(?:{FOOTNOTE_MARK})+")
LATIN_WORD = re.compile(r"[A-Za-z]{3,}")      # real words, not the letters of "E2B"
KANA = re.compile(r"[\u3040-\u30ff]")
HANGUL = re.compile(r"[\uac00-\ud7af\u1100-\u11ff]")
OTHER_SCRIPTS = [
    ("ru", re.compile(r"[\u0400-\u04ff]")),
    ("ar", re.compile(r"[\u0600-\u06ff]")),
    ("hi", re.compile(r"[\u0900-\u097f]")),
    ("th", re.compile(r"[\u0e00-\u0e7f]")),
    ("he", re.compile(r"[\u0590-\u05ff]")),
    ("el", re.compile(r"[\u0370-\u03ff]")),
]


@functools.lru_cache(maxsize=None)
def _converter(config: str):
    import opencc
    return opencc.OpenCC(config)


def to_simplified(text: str) -> str:
    return _converter("t2s").convert(text)


def to_mainland(text: str) -> str:
    """Traditional with Taiwan phrasing -> Simplified with mainland phrasing (tw2sp): 部落格 -> 博客,
    上下文視窗 -> 上下文窗口, 程式碼 -> 代码; the words a Simplified document uses for what a Taiwan
    reader writes. It also rewrites a few words Simplified text shares (建立 -> 创建), so it adds to
    `to_simplified`, never replaces it."""
    return _converter("tw2sp").convert(text)


def is_traditional(text: str) -> bool:
    """The text holds Chinese characters, and in Traditional script (`chinese_script`)."""
    return bool(HAN.search(text)) and chinese_script(text) == "zh-Hant"


# A name glued to its number as users type it: "gemma4", "llama3.1" (not "E2B", "31B" or "9to5Google").
GLUED_NUMBER = re.compile(r"(?<![A-Za-z0-9])([A-Za-z]{2,})(\d+(?:\.\d+)?)(?![A-Za-z0-9])")


def mainland_words(text: str) -> str:
    """The keyword tokens `to_mainland` gives a Traditional text that `to_simplified` does not, as one
    string ("" for Simplified or English text, or when the phrasing is the same)."""
    if not is_traditional(text):
        return ""
    plain = set(tokenize(text))
    return " ".join(dict.fromkeys(t for t in tokenize(to_mainland(text)) if t not in plain))


def to_traditional(text: str) -> str:
    """Simplified -> Traditional with Taiwan phrasing (s2twp): 软件 -> 軟體."""
    return _converter("s2twp").convert(text)


def detect_language(text: str) -> str:
    """zh-Hans, zh-Hant, en, or another tag (ja, ko, ru, ...) / 'und' for no letters."""
    han = HAN.findall(text)
    words = LATIN_WORD.findall(text)
    if KANA.search(text):
        return "ja"
    if len(HANGUL.findall(text)) >= 2:
        return "ko"
    if han and len(han) >= max(2, len(words)):
        return chinese_script(text)
    for tag, pattern in OTHER_SCRIPTS:
        if len(pattern.findall(text)) > sum(len(w) for w in words):
            return tag
    if words:
        return "en"
    if han:
        return chinese_script(text)
    return "und"


def script_neutral(text: str) -> bool:
    """True when the Chinese text reads the same in both scripts ("2026年3月31日")."""
    han = "".join(HAN.findall(text))
    return to_simplified(han) == han == _converter("s2t").convert(han)


def chinese_script(text: str) -> str:
    """Traditional when more characters change going to Simplified than the other way."""
    han = "".join(HAN.findall(text))
    to_s = to_simplified(han)
    to_t = _converter("s2t").convert(han)
    traditional_only = sum(a != b for a, b in zip(han, to_s))
    simplified_only = sum(a != b for a, b in zip(han, to_t))
    return "zh-Hant" if traditional_only > simplified_only else "zh-Hans"


# ---------------------------------------------------------------- keyword tokens

STOPWORDS = set("""
的 了 是 在 和 与 及 或 也 都 而 把 被 对 从 向 为 以 于 之 其 这 那 这个 那个 哪个 哪些 什么 怎么 怎样 如何 为何
吗 呢 吧 啊 呀 么 嘛 有 有没有 是否 是不是 会 能 可以 可 要 让 给 说 一个 一种 多少 几 哪 谁 请问 请 告诉 我 你 他 她 它
我们 你们 他们 一下 还 又 就 并 等 中 上 下 里 着 过 所 如果 但 但是 因为 所以 即 则 该 此 各 每 些 个
a an the of to in on for and or is are was were be been being do does did what which who whom whose when where why
how can could should would will shall may might must it its this that these those there their they them with by as at
from about into than then so if not no yes i you he she we me my your our us please tell know does anything any some
""".split())

# Languages and nationalities ("the Chinese article", "English sources", "Taiwanese courts"): words that say
# what a thing is written in or where it is from, which documents seldom state; no names of a subject.
LANGUAGE_WORDS = set("""chinese english japanese korean french german spanish italian russian arabic portuguese dutch
hindi vietnamese thai indonesian turkish polish swedish american british european asian african taiwanese
indian canadian australian""".split())

# A model or version name, kept as one token: e2b, 26b, a4b, 256k, 2.0, gemma4 ...
_LATIN_TOKEN = re.compile(r"[a-z]+\d+[a-z0-9]*|\d+(?:[.,]\d+)*[a-z]*|[a-z]+(?:[-'][a-z]+)*")
_RUN = re.compile(f"([{HAN_CHARS}]+)|([a-z0-9][a-z0-9.,'\\-]*)")


def footnotes(text: str) -> list[int]:
    """The article's own [n] markers inside a piece of text, in order, without repeats."""
    seen: list[int] = []
    for m in FOOTNOTE.finditer(text):
        n = int(m.group(1))
        if n not in seen:
            seen.append(n)
    return seen


# Where a sentence ends, by one rule with two strengths. An answer's sentence ends at 。！？!?,
# a full stop before a space or the end, or a line break, keeping the [n] markers that follow
# (a claim keeps its citation). A document's also ends at ；; and at a colon after Chinese,
# swallowing closing quotes and footnote markers, so chunks break between clauses; the full
# stop of a clause number at a line's start ("4. Redistribution") ends nothing.
ANSWER_SENTENCE_END = re.compile(r"(?:[。！？!?]|\.(?=\s|$)|\n)(?:\s*\[\d+\])*")
DOCUMENT_SENTENCE_END = re.compile(
    r"(?:[。！？；!?;]|(?<=[\u4e00-\u9fff\)）]):|(?<!^\d)(?<!^\d\d)\.(?=\s|$))[”’」』\"')）]*(?:\s*"
    + FOOTNOTE_MARK + ")*", re.MULTILINE)


def sentence_spans(text: str, document: bool = False) -> list[tuple[int, int]]:
    """(start, end) of each sentence with any text in it; `document` uses the document rule
    (every line break ends a sentence too)."""
    if document:
        cuts = sorted({m.end() for m in DOCUMENT_SENTENCE_END.finditer(text)} | {m.end() for m in re.finditer(r"\n", text)})
    else:
        cuts = [m.end() for m in ANSWER_SENTENCE_END.finditer(text)]
    spans, start = [], 0
    for cut in cuts + [len(text)]:
        if cut > start:
            spans.append((start, cut))
            start = cut
    return [(a, b) for a, b in spans if text[a:b].strip()]


def normalize(text: str) -> str:
    """NFKC (full-width -> half-width), Traditional -> Simplified, lower case, British
    spellings as American ones ("licence" matches "license")."""
    return _BRITISH.sub(_american, to_simplified(unicodedata.normalize("NFKC", text)).lower())


# British spellings of common words, as the American ones: licence, organise/organisation,
# recognise, centre, colour, behaviour, favour, defence, offence, catalogue, programme.
_BRITISH = re.compile(r"\b(licen)c(e[sd]?|ing)\b|\b(organi|recogni|authori|reali|utili)s(e[sd]?|ing|ation)\b"
                      r"|\b(cent|met|lit)re(s?)\b|\b(col|behavi|fav|hon|lab)our(s?)\b|\b(defen|offen)ce(s?)\b"
                      r"|\b(catalog|dialog)ue(s?)\b|\b(program)me(s?)\b")


_AMERICAN = ("s", "z", "er", "or", "se", "", "")    # what each alternative's British letters become


def _american(m: re.Match) -> str:
    g = m.groups()
    i = next(i for i in range(0, len(g), 2) if g[i] is not None)
    return g[i] + _AMERICAN[i // 2] + (g[i + 1] or "")


@functools.lru_cache(maxsize=1)
def _jieba():
    import jieba
    jieba.setLogLevel(logging.WARNING)
    from .profile import current
    for word in current().words:          # the corpus's own compounds (corpus/profile.json)
        jieba.add_word(word)
    return jieba


def han_words(text: str) -> list[str]:
    """jieba's words of a Chinese text, in order (the corpus's own words known)."""
    return list(_jieba().cut(text))


def parts_of_speech(text: str) -> list[tuple[str, str]]:
    """jieba's words of a Chinese text with their part-of-speech tags ("n" noun, "v" verb, "r" pronoun,
    "eng" a Latin word), the corpus's own words known."""
    _jieba()
    import jieba.posseg
    return [(word, tag) for word, tag in jieba.posseg.cut(text)]


def tokenize(text: str) -> list[str]:
    """Keyword tokens for BM25. Adjacent Latin/number tokens are also joined
    ("gemma_4", "26b_a4b", "apache_2.0") so multi-part names match as a unit."""
    tokens: list[str] = []
    previous_latin: str | None = None
    for match in _RUN.finditer(normalize(text)):
        han, latin = match.groups()
        if han:
            previous_latin = None
            for word in _jieba().cut_for_search(han):
                if word not in STOPWORDS:
                    tokens.append(word)
            continue
        for word in _LATIN_TOKEN.findall(latin):
            if previous_latin is not None:
                tokens.append(previous_latin + "_" + word)
            if word not in STOPWORDS:
                tokens.append(word)
            previous_latin = word
    return tokens


def singular(word: str) -> str:
    """An English plural without its "s" ("trademarks" -> "trademark", "grants" -> "grant"); the
    result is always the word's start. Keyword search keeps plurals: folding them there lost
    evidence@5 on both dev sets (docs/EVAL.md)."""
    if len(word) > 3 and word[-1] == "s" and word[-2] not in "sui'" and word.isalpha():
        return word[:-1]
    return word


def english_amount(value: float) -> str:
    """400000000 -> "400 million", 100000 -> "100,000": an amount as an English answer writes it."""
    if value >= 1e9:
        return f"{value / 1e9:g} billion"
    if value >= 1e6:
        return f"{value / 1e6:g} million"
    return f"{value:,.0f}"
