"""Sentence-level evidence and answer-type checks, for any corpus.

`question_kind` says whether a question asks for a date or an amount. `best_sentence` picks,
among the sentences of the best retrieved chunks, the one that best states the answer for the
question's subject (and holds a value of the asked kind). `mismatch` compares the answer's
values with that sentence's: a date from another sentence ("2026 年 4 月初" for "3 月 31 日") or
an amount off by a 万/亿 scale ("4 billion" for "4 亿") is a mismatch. `fix_amounts` rewrites
such an amount in code (4 亿 = 400 million). `definition_for` finds the sentence defining the term a
question asks the meaning of ('"Source" form shall mean …'). The assistant uses these to repair an answer
(rag/chat.py): see docs/EVAL.md for what each step changed."""
from __future__ import annotations

import re
from dataclasses import dataclass

from .support import MONTHS, SCALE, amounts, rank_support
from .text import HAN, MARKER, english_amount, normalize, sentence_spans, to_simplified, to_traditional

_DATE_QUESTION = re.compile(
    r"\bwhen\b|\bwhat (?:date|day|year|month)\b|\bwhich (?:date|day|year|month)\b|\bsince when\b|\bhow long ago\b"
    r"|什么时候|何时|哪一天|哪天|几号|哪一年|哪年|几月|哪个月|什么日期|哪个日期|什么时间|发布日期|日期是")
_AMOUNT_QUESTION = re.compile(
    r"\bhow (?:many|much)\b|\bwhat (?:is the )?(?:number|count|amount|total)\b|\bhow (?:large|big|long) (?:is|a)\b"
    r"|多少|几个|几款|几种|几家|几次|数量|多大|多长")

_MONTHS = {m: i for i, m in enumerate(MONTHS, 1)}
_MONTH_WORD = r"(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?" \
              r"|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
_ZH_DATE = re.compile(r"(?:(\d{4})\s*年\s*)?(\d{1,2})\s*月\s*(?:(\d{1,2})\s*[日号]|(初|底|中|上旬|中旬|下旬))?")
_EN_MD = re.compile(rf"\b{_MONTH_WORD}\s+(\d{{1,2}})(?:st|nd|rd|th)?\b(?:,?\s*(\d{{4}}))?", re.IGNORECASE)
_EN_DM = re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH_WORD}\b(?:,?\s*(\d{{4}}))?", re.IGNORECASE)
_EN_PART = re.compile(rf"\b(early|mid|late|end of|beginning of|the end of)[\s-]+{_MONTH_WORD}\b(?:,?\s*(\d{{4}}))?",
                      re.IGNORECASE)
_EN_MY = re.compile(rf"\b{_MONTH_WORD}\s+(\d{{4}})\b", re.IGNORECASE)
_ISO = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_PART = {"初": "early", "上旬": "early", "beginning of": "early", "early": "early", "中": "mid", "中旬": "mid",
         "mid": "mid", "底": "late", "下旬": "late", "end of": "late", "the end of": "late", "late": "late"}


@dataclass(frozen=True)
class Date:
    year: int | None
    month: int
    day: int | None = None
    part: str | None = None           # early / mid / late, when no day is given

    def agrees(self, other: "Date") -> bool:
        """The same date as far as both say: the year when both give one, the month, and the
        day or part of the month ("April 2" is not "early April")."""
        if self.month != other.month or (self.year and other.year and self.year != other.year):
            return False
        if self.day or other.day:
            return self.day == other.day
        return self.part == other.part


def _month(word: str) -> int:
    word = word.lower().rstrip(".")
    return next(n for name, n in _MONTHS.items() if name.startswith(word[:3]))


def dates(text: str) -> set[Date]:
    out: set[Date] = set()
    plain = normalize(MARKER.sub(" ", text))
    for y, m, d, part in _ZH_DATE.findall(plain):
        if 1 <= int(m) <= 12:
            out.add(Date(int(y) if y else None, int(m), int(d) if d else None, _PART.get(part) if part else None))
    for y, m, d in _ISO.findall(plain):
        out.add(Date(int(y), int(m), int(d)))
    taken = []
    for rx, order in ((_EN_MD, "md"), (_EN_DM, "dm")):
        for match in rx.finditer(plain):
            a, b, y = match.groups()
            month, day = (a, b) if order == "md" else (b, a)
            if 1 <= int(day) <= 31:
                out.add(Date(int(y) if y else None, _month(month), int(day)))
                taken.append(match.span())
    for match in _EN_PART.finditer(plain):
        part, month, y = match.groups()
        out.add(Date(int(y) if y else None, _month(month), None, _PART.get(part.lower())))
        taken.append(match.span())
    for match in _EN_MY.finditer(plain):
        if not any(a <= match.start() < b for a, b in taken):
            month, y = match.groups()
            out.add(Date(int(y), _month(month), None))
    return out


def question_kind(question: str) -> str | None:
    """"date" or "amount" when the question asks for one, else None."""
    text = to_simplified(question).lower()
    if _DATE_QUESTION.search(text):
        return "date"
    if _AMOUNT_QUESTION.search(text):
        return "amount"
    return None


# A plain written amount: five digits or more, or grouped by commas ("100,000"); not a year.
_PLAIN_AMOUNT = re.compile(r"(?<![\w.,])(\d{1,3}(?:,\d{3})+|\d{5,})(?![\w]|[.,]\d)")


def values(text: str, kind: str) -> set:
    """The dates, or the amounts ("4 亿", "400 million", "100,000" as numbers), in a text."""
    if kind == "date":
        return dates(text)
    plain = normalize(MARKER.sub(" ", text))
    return amounts(plain) | {int(n.replace(",", "")) for n in _PLAIN_AMOUNT.findall(plain)}


@dataclass
class Evidence:
    key: int                 # the chunk's key (its position in the index)
    sentence: str
    score: float


def best_sentence(question: str, chunks: list[tuple], kind: str | None = None,
                  glossary: dict | None = None, holding=None, keep=None) -> Evidence | None:
    """The sentence of `chunks` ((key, text) or (key, text, document title), best-ranked first)
    that best states what the question asks: the share of the question's key terms it holds
    (across languages through `glossary`), ties to the better-ranked chunk. A sentence holds its
    document's title too: in "Does the Apache License 2.0 grant a patent license?" the name says
    which document, and the licence's patent clause, which never repeats it, is the answer. With
    `kind`, only sentences that hold a value of that kind; with `holding` (a value of that kind),
    only sentences that hold that value; with `keep` ((key, sentence) -> bool), only sentences it keeps."""
    best: tuple | None = None
    for rank, (key, text, *title) in enumerate(chunks):
        for a, b in _with_headings(text):
            sentence = text[a:b].strip()
            found = values(sentence, kind) if kind else None
            if len(sentence) < 6 or (kind and not found) or (holding is not None and not _holds(found, holding)):
                continue
            if keep is not None and not keep(key, sentence):
                continue
            score = sentence_score(question, sentence, title[0] if title else "", glossary)
            row = (round(score, 2), -rank, sentence, key)
            if best is None or row[:2] > best[:2]:
                best = row
    if best is None or best[0] <= 0:
        return None
    return Evidence(best[3], best[2], best[0])


def sentence_score(question: str, sentence: str, title: str = "", glossary: dict | None = None) -> float:
    """How well a sentence of a document titled `title` states what the question asks: the share
    of the question's key terms it holds, the title's words included (half without the
    question's numbers)."""
    scored = f"{title}: {sentence}" if title else sentence
    return rank_support(question, scored, glossary, inflected=True) \
        or 0.5 * rank_support(without_numbers(question), scored, glossary, inflected=True)


def _with_headings(text: str) -> list[tuple[int, int]]:
    """The document's sentence spans, a short one that ends its line's first words ("2. Grant of
    Copyright License. Subject to ...": a section heading) joined to the sentence after it on
    the same line; alone it would state nothing and win on the question's words. A line a hard
    wrap cut off is joined to the next (plain-text licences wrap at 72 columns), and so is a term
    alone on its line to the "means …" defining it on the next."""
    spans = sentence_spans(text, document=True)
    out: list[tuple[int, int]] = []
    for a, b in spans:
        if out and (_is_heading(text, *out[-1]) and "\n" not in text[out[-1][1] - 1:a]
                    or hard_wrapped(text, out[-1], (a, b))):
            out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out


def hard_wrapped(text: str, before: tuple[int, int], after: tuple[int, int]) -> bool:
    """The span `after` goes on with the sentence of `before`, cut by a hard wrap: `before` ends
    mid-sentence (no stop, colon or semicolon), one line break parts them, and `after` goes on in
    lower case with a word ("by a Contributor and …", "means Source Code Form …"; not a domain
    name under a title, "ai.google.dev"), or with any word after a long line ending in a lower-case
    word ("licensed under this" then "License.")."""
    end = before[0] + len(text[before[0]:before[1]].rstrip())
    start = after[1] - len(text[after[0]:after[1]].lstrip())
    if text[end - 1:end] in _STOPS or text[end:start].count("\n") != 1:
        return False
    line = text[text.rfind("\n", 0, end) + 1:end].strip()
    return _GOES_ON.match(text, start) is not None \
        or len(line) >= _WRAP_WIDTH and re.search(r"[a-z,]$", line) is not None and _WORD_GOES_ON.match(text, start) is not None


_STOPS = set(".!?;:。！？；：")
_GOES_ON = re.compile(r"[a-z]+,?[ \t]")                     # "by a Contributor", "means Source Code Form"
_WORD_GOES_ON = re.compile(r"[A-Za-z]+[,.;:]?(?:[ \t]|$)", re.MULTILINE)   # "License." after "licensed under this"
_WRAP_WIDTH = 40            # characters of a line that a hard wrap, not its sentence's end, cut off


def without_heading(sentence: str) -> str:
    """A sentence of `best_sentence` without the section heading joined to its front."""
    spans = sentence_spans(sentence, document=True)
    if len(spans) > 1 and _is_heading(sentence, *spans[0]):
        return sentence[spans[1][0]:].strip()
    return sentence


def _is_heading(text: str, a: int, b: int) -> bool:
    line_start = text.rfind("\n", 0, a) + 1
    words = text[a:b].split()
    return not text[line_start:a].strip() and len(words) <= _HEADING_WORDS and not HAN.search(text[a:b])


_HEADING_WORDS = 6           # "2. Grant of Copyright License." opens a line and has 5


def _holds(found: set, value) -> bool:
    return any(f.agrees(value) for f in found) if isinstance(value, Date) else value in found


def without_numbers(question: str) -> str:
    """The text without its numbers. rank_support demands each of a text's numbers in the other
    ("MedGemma 1.5" should); a sentence that leaves out the "4" of "Gemma 4" still counts, at half."""
    return re.sub(r"\d+(?:\.\d+)?", " ", question)


def mismatch(answer: str, evidence: Evidence, kind: str) -> bool:
    """The answer gives no value of `kind` the evidence sentence gives, or gives only others."""
    wanted = values(evidence.sentence, kind)
    if not wanted:
        return False
    given = values(answer, kind)
    if kind == "date":
        return not any(g.agrees(w) for g in given for w in wanted)
    return not (given & wanted)


# A written amount in an answer: "4 billion", "10,000+", "10 万", "400M". Short plain numbers
# ("Gemma 4", "2026") are not amounts.
# ("Gemma 4", "2026") are not amounts, nor are model sizes ("1B", "31B").
_ANSWER_AMOUNT = re.compile(r"(?<![\w.])(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)(?:\s*(thousand|million|billion|万|亿|萬|億))?"
                            r"(?![\w.]\d)", re.IGNORECASE)


def _digits(value: float) -> str:
    return f"{value:.0f}".rstrip("0") if value >= 1 else ""


def fix_amounts(answer: str, evidence: Evidence) -> str:
    """An amount off by a Chinese scale ("4 billion" or "4,000,000,000" where the evidence says
    4 亿, "10,000" where it says 10 万, 100,000): the same leading digits at another scale are
    written again from the evidence's value, converted in code (English) or as the evidence
    writes it (Chinese)."""
    wanted = amounts(normalize(evidence.sentence))
    written = {round(v): m.group(0) for m in re.finditer(r"(\d+(?:\.\d+)?)\s*[万亿]", normalize(evidence.sentence))
               for v in amounts(m.group(0))}

    def rewrite(m: re.Match) -> str:
        number, unit = m.group(1), (m.group(2) or "").lower()
        if not unit and len(number.replace(",", "")) < 5:
            return m.group(0)                    # "Gemma 4", "2026", "256": not an amount
        value = float(number.replace(",", "")) * SCALE.get(to_simplified(unit), 1)
        if round(value) in wanted:
            return m.group(0)
        for v in wanted:
            if _digits(v) and _digits(v) == _digits(value):
                if not HAN.search(answer):
                    return english_amount(v)
                chinese = written.get(round(v), english_amount(v))
                return to_traditional(chinese) if re.search("[萬億]", answer) else chinese
        return m.group(0)
    return _ANSWER_AMOUNT.sub(rewrite, answer)


# A question asking what a term means ("What does 'Source form' mean?", "What counts as the Object
# form?", "「衍生作品」是什麼意思？"), read in Simplified Chinese; the group is the term when the frame says it.
_DEFINITION_ASKS = [re.compile(p, re.IGNORECASE) for p in (
    r"\bwhat\s+(?:does|do|did)\s+(?:the\s+(?:term|word|phrase)\s+)?(.{1,60}?)\s+(?:mean|refer\s+to)\b",
    r"\bwhat\s+is\s+meant\s+by\s+(?:the\s+(?:term|word|phrase)\s+)?(.{1,60}?)(?:\s+(?:in|under|according)\b|[?.]|$)",
    r"\b(?:what|who)\s+(?:counts|qualifies|is\s+considered|are\s+considered)\s+(?:as\s+)?(?:an?\s+|the\s+)?"
    r"(.{1,60}?)(?:\s+(?:in|under|according)\b|[?.]|$)",
    r"\b(?:what|who)\s+(?:is|are)\s+(?:an?\s+|the\s+)?([\"“'‘][^\"”'’]{1,40}[\"”'’])",
    r"\b(?:how\s+(?:does|do)\s+.{1,40}?\s+define|definition\s+of|define)\s+(?:the\s+(?:term|word)\s+)?(.{1,60}?)"
    r"(?:\s+(?:in|under|according)\b|[?.]|$)",
    r"([^，,。？?！!的里中]{1,16})(?:\s*\([^)]{1,30}\))?\s*(?:到底|具体|究竟)?(?:是什么意思|什么意思|是指什么|指什么|指的是什么|"
    r"指的是谁|是指谁|指谁|的定义是什么|怎么定义|如何定义|的含义是什么|的意思是什么)",
    r"(?:什么是|何谓|什么叫做?)\s*([^，,。？?！!]{1,16})",
    r"(?:谁|什么人|什么|哪些|哪种)(?:才)?(?:算是?|属于|被视为|被当作|被当成)\s*(?:一个|一名|一位)?([^，,。？?！!]{1,16})",
    r"(?:怎样|怎么样|怎么|如何)(?:才)?(?:算是?|构成)\s*(?:一个|一名|一位)?([^，,。？?！!]{1,16})")]
# A quoted or bracketed term: "…", “…”, 「…」, '…', or English words in brackets after a Chinese one. An
# apostrophe inside a word ("the License's definition of 'Work'") opens and closes no quote.
_QUOTED_TERM = re.compile(r"(?:[\"“「『‘]|(?<![A-Za-z])')([^\"”」』'’]{1,40})(?:[\"”」』]|['’](?![A-Za-z]))"
                          r"|[(（]([A-Za-z][A-Za-z \-]{0,40})[)）]")
# A sentence defining a term: '"Source" form shall mean …', '"control" means …', 'X 是指 …'. Groups: the
# quoted term, " form" after it, what follows the verb; or the Chinese term and what follows 是指.
_DEFINES = re.compile(r"^\W*(?:\(?[a-z0-9]{1,3}(?:\.\d{1,3})*[.)]\s+)?(?:for the purposes of this \w+,\s*)?[\"“]([^\"”]{1,40})[\"”]"
                      r"(?:\s*\((?:or\s+)?[\"“][^\"”]{1,20}[\"”]\))?(\s+form)?\s+(?:shall\s+mean|means|refers\s+to|"
                      r"is\s+defined\s+as)\b\s*(.*)$|^([^，,。]{1,20}?)(?:是指|指的是|系指)(.*)$",
                      re.IGNORECASE | re.DOTALL)


def quoted_phrases(question: str) -> list[str]:
    """The words a question quotes ("文章結論在「商業層面」列了哪幾件事？": 商业层面), normalized (rag/text.py),
    two Chinese characters or four letters at least: words of the documents it asks about."""
    out = []
    for m in _QUOTED_TERM.finditer(question):
        phrase = normalize(m.group(1) or "").strip()
        if len(HAN.findall(phrase)) >= 2 or len(re.findall(r"[a-z]", phrase)) >= 4:
            out.append(phrase)
    return list(dict.fromkeys(out))


def asked_terms(question: str) -> list[str]:
    """The terms a question asks the meaning of: its quoted or bracketed terms, else the one its
    frame names; [] when it asks no meaning."""
    text = to_simplified(question).strip()
    frame = next((m for m in (rx.search(text) for rx in _DEFINITION_ASKS) if m), None)
    if frame is None:
        return []
    quoted = [a or b for a, b in _QUOTED_TERM.findall(text)]
    return [t.strip() for t in quoted if t.strip()] or [frame.group(1).strip(" \"'“”「」")]


def defined_term(sentence: str) -> tuple[str, str] | None:
    """(term, definition) of a sentence that defines a term, else None."""
    m = _DEFINES.match(without_heading(sentence).strip())
    if m is None:
        return None
    if m.group(1):
        return m.group(1) + (m.group(2) or ""), m.group(3)
    return m.group(4).strip(), m.group(5)


def definition_for(question: str, chunks: list[tuple], glossary: dict | None = None) -> Evidence | None:
    """The sentence of `chunks` ((key, text, …), best first) defining the term the question asks
    the meaning of: the defined term holding at least half of an asked term's words (across
    languages through `glossary`: "衍生作品" is "Derivative Works"), the best such one; None when
    the question asks no meaning or no sentence defines it."""
    terms = asked_terms(question)
    best: tuple | None = None
    for rank, (key, text, *_) in enumerate(chunks) if terms else []:
        for a, b in _with_headings(text):
            sentence = text[a:b].strip()
            found = defined_term(sentence)
            if found is None:
                continue
            score = max(_term_match(term, found[0], glossary) for term in terms)
            if score >= _DEFINED_SHARE and (best is None or (score, -rank) > best[:2]):
                best = (score, -rank, sentence, key)
    return Evidence(best[3], best[2], best[0]) if best else None


def _term_match(asked: str, defined: str, glossary: dict | None) -> float:
    """How well a defined term is the asked one: the share of the asked term's words it holds, and in
    the same script also the other way round ("Work" is not "Derivative Works"); across scripts only
    the first way, through the bridge (its Chinese renderings of an English term are too wide)."""
    share = rank_support(asked, defined, glossary, inflected=True)
    if bool(HAN.search(asked)) != bool(HAN.search(defined)):
        return share
    return min(share, rank_support(defined, asked, glossary, inflected=True))


_DEFINED_SHARE = 0.5         # share of an asked term's words the defined term holds
