"""Output shaping: the model's text pieces as the user sees them, while they stream. A reply
that opens with the refusal marker is held back and never shown; Chinese answers lose the
English glosses the prompt adds to 万/亿 amounts; citation markers are renumbered
(`cite.CitationStream`); a Traditional Chinese answer is converted at phrase boundaries; a reply
that loops, or that makes a list from one template, is stopped. After the stream, `drop_echo`
removes a repeated question turn from the draft, and `drop_repeated_items` a list item said twice."""
from __future__ import annotations

import re
from difflib import SequenceMatcher

from . import prompt as P
from .cite import CitationStream, marker_groups
from .text import HAN, HAN_CHARS, MARKER, normalize, to_traditional


class HeldStrip:
    """Removes every match of `WHOLE` from streamed text; a possible start of one at the end
    of the text so far (`PARTIAL`) is held back until the next piece says what it is."""
    WHOLE: re.Pattern
    PARTIAL: re.Pattern

    def __init__(self):
        self.pending = ""

    def feed(self, text: str) -> str:
        text = self.pending + text
        m = self.PARTIAL.search(text)
        cut = m.start() if m else len(text)
        self.pending = text[cut:]
        return self.WHOLE.sub("", text[:cut])

    def flush(self) -> str:
        text, self.pending = self.pending, ""
        return self.WHOLE.sub("", text)


class GlossStrip(HeldStrip):
    """Chinese answers drop the English glosses the prompt adds to 万/亿 amounts
    ("4 亿(400 million)" -> "4 亿"), holding back a gloss until it is complete."""
    WHOLE = re.compile(r"(?<=[万亿萬億])\s*[(（][\d.,]+(?:\s*(?:million|billion|thousand|万|亿|萬|億|千))?[)）]")
    PARTIAL = re.compile(r"[万亿萬億]\s*(?:[(（][\d.,]*(?:\s*[a-z万亿萬億千]*)?)?$")


# The refusal marker inside a reply, as a small model may spell it: NOT_FOUND, Not_FOUND,
# not_found, NOT FOUND, NOTFOUND, NOT-FOUND, with any citation markers after it. Plain prose
# ("was not found in") is not the marker: it needs the underscore or hyphen, or capitals.
CONTROL_WORD = re.compile(r"(?<![A-Za-z])(?:(?i:not\s*[_\-]\s*found)|NOT\s*FOUND|(?i:notfound))(?:\s*\[\d+\])*(?![A-Za-z])")
_CONTROL_WITH_SPACE = re.compile(r"[ \t]*" + CONTROL_WORD.pattern)


def _squash(text: str) -> str:
    return re.sub(r"[\s_\-]+", "", text).lower()


def opens_with_control_word(text: str) -> bool | None:
    """True when a reply opens with the refusal marker (any case or spacing: "Not_FOUND[1]",
    "not found."), False when it cannot, None while its start could still be one."""
    start = _squash(text)
    if start.startswith("notfound"):
        return True
    return None if "notfound".startswith(start) else False


def strip_control_word(text: str) -> str:
    return _CONTROL_WITH_SPACE.sub("", text)


class ControlStrip(HeldStrip):
    """The refusal marker never reaches the user inside an answer: a whole one is removed
    with the spaces before it; a possible start of one at the end of the text waits."""
    WHOLE = _CONTROL_WITH_SPACE
    PARTIAL = re.compile(r"(?<![A-Za-z])(?i:n(?:o(?:t(?:\s*[_\-]?\s*(?:f(?:o(?:u(?:n(?:d)?)?)?)?)?)?)?)?)"
                         r"(?:\s*\[\d*)?$")


class ScriptStream:
    """Simplified -> Traditional on streamed text, converting at phrase boundaries so
    that multi-character conversions (软件 -> 軟體) see whole words. Text with no Han
    character after the last boundary ("Gemma", "256K") passes at once: it has nothing
    to convert, and holding it would delay the first word of most answers by a few
    tokens. (The one cost: a phrase that starts with a Latin letter, like U盘 -> 隨身碟,
    is converted character by character, U盤, when the letter arrives alone.)"""
    BOUNDARY = re.compile(r"[，。！？；：、,.!?;:\s\[\]()（）]")

    def __init__(self, convert):
        self.convert = convert
        self.buffer = ""

    def feed(self, text: str) -> str:
        self.buffer += text
        cut = max((m.end() for m in self.BOUNDARY.finditer(self.buffer)), default=0)
        if cut < len(self.buffer) and not HAN.search(self.buffer, cut):
            cut = len(self.buffer)
        if cut == 0 and len(self.buffer) < 16:
            return ""
        cut = cut or len(self.buffer)
        out, self.buffer = self.buffer[:cut], self.buffer[cut:]
        return self.convert(out)

    def flush(self) -> str:
        out, self.buffer = self.buffer, ""
        return self.convert(out) if out else ""


class Shaper:
    """One answer's stream of model pieces -> the text to show. `feed` returns what may be
    shown now ("" while something is held back); once `refused` is set the model answered
    with the refusal marker and the rest of its reply is not needed. `flush` gives what was
    held back at the end; `citations` knows which markers were used, in order."""

    def __init__(self, language: str, valid_numbers: set[int]):
        self.citations = CitationStream(valid_numbers)
        self.script = ScriptStream(to_traditional) if language == "zh-Hant" else None
        self.gloss = GlossStrip() if language in ("zh-Hans", "zh-Hant") else None
        self.control = ControlStrip()
        self.raw = ""          # what the model wrote
        self.shown = ""        # what the user was shown
        self.held = ""         # the start of the reply while it could still be the refusal marker
        self.refused = False
        self.looping = False   # the reply goes round in a loop; the rest of it is not needed
        self.templated = False  # the reply is a list made from one template; the rest of it is not needed

    def feed(self, piece: str) -> str:
        self.raw += piece
        opening = opens_with_control_word(self.raw) if not self.shown else False
        if opening is None:
            self.held = self.raw
            return ""
        if opening or CONTROL_WORD.search(self.raw[:40]):
            self.refused = True
            return ""
        out, self.held = (self.held + piece if self.held else piece), ""
        out = self._show(out)
        if _BOUNDARY.search(piece) and _looped(self.raw):
            self.looping = True
            self.shown = _REPEATS.sub(r"\1", self.shown, count=1)
            return ""
        if "\n" in piece and templated_list(self.raw):
            self.templated = True
        return out

    def flush(self) -> str:
        tail = self.control.feed(self.held) + self.control.flush()
        tail = (self.gloss.feed(tail) + self.gloss.flush()) if self.gloss else tail
        tail = self.citations.feed(tail) + self.citations.flush()
        if self.script:
            tail = self.script.feed(tail) + self.script.flush()
        self.shown += tail
        return tail

    @property
    def found_nothing(self) -> bool:
        """The model refused, or wrote nothing else."""
        return self.refused or not strip_control_word(self.raw).strip(" \t\n.。")


    def _show(self, text: str) -> str:
        text = self.control.feed(text)
        if self.gloss:
            text = self.gloss.feed(text)
        text = self.citations.feed(text)
        if self.script:
            text = self.script.feed(text)
        self.shown += text
        return text


# A small model sometimes goes round in a loop until its token limit: the same sentence or
# line again and again, or bare markers ("[9][40] [9][41] [9][42] …"). Checked where a piece
# ends a sentence or line, on the reply's tail; a unit must hold three word characters (a
# table rule "| --- | --- |" is no loop).
_BOUNDARY = re.compile(r"[。！？.!?\n\]]")
_UNIT = r"(\S.{5,150}?)"
_LOOP = re.compile(_UNIT + r"(?:\s*\1){2,}\s*$", re.DOTALL)      # a unit and two more copies
_REPEATS = re.compile(_UNIT + r"(?:\s*\1)+\s*$", re.DOTALL)      # a unit and its copies
_MARKER_LOOP = re.compile(marker_groups(6) + r"\s*$")
_WORDY = re.compile(r"\w.*\w.*\w", re.DOTALL)


def _looped(raw: str) -> bool:
    tail = raw[-600:]
    if _MARKER_LOOP.search(tail):
        return True
    m = _LOOP.search(tail)
    return bool(m and _WORDY.search(m.group(1)))


# A small model asked for the items of a list it cannot find sometimes makes them up from one
# template, only a name changing from line to line ("**Raspberry Pi**: Gemma 4 也可以直接帶到
# Raspberry Pi 裝置上，提供更智慧的 AI 模型" and again for each device it read). Three finished
# list items in a row whose words, their bold heads aside, are mostly the same words in the
# same order make such a list; short items ("原生視覺處理", "原生音訊處理") do not.
_ITEM = re.compile(r"^[ \t]*(?:\d{1,2}[.)、]|[-*•])[ \t]+(.+)\n", re.MULTILINE)
_BOLD_HEAD = re.compile(r"^\*\*(.+?)\*\*\s*[:：]?")
_TOKEN = re.compile(f"{HAN.pattern}|[^\\W_{HAN_CHARS}]+")
_TEMPLATE_WORDS = 6           # words two items share, in order, at least
_TEMPLATE_SHARE = 0.7         # ... and this share of the shorter item's words


def _item_words(item: str) -> list[str]:
    text = MARKER.sub(" ", item).strip()
    head = _BOLD_HEAD.match(text)
    if head:
        text = text[head.end():].replace(head.group(1), " ")
    return [t.lower() for t in _TOKEN.findall(text)]


def _same_template(a: list[str], b: list[str]) -> bool:
    shared = sum(block.size for block in SequenceMatcher(None, a, b, autojunk=False).get_matching_blocks())
    return shared >= _TEMPLATE_WORDS and shared >= _TEMPLATE_SHARE * min(len(a), len(b))


def templated_list(raw: str) -> bool:
    """Does the reply hold three finished list items in a row made from one template?"""
    items = [_item_words(m.group(1)) for m in _ITEM.finditer(raw)]
    return any(_same_template(items[i], items[i + 1]) and _same_template(items[i + 1], items[i + 2])
               for i in range(len(items) - 2))


_INSTRUCTION_ECHO = re.compile(
    r"[（(]\s*(?:(?:参考|參考|see)\s*(?:\[\d+\])*\s*[；;，,]?\s*)?(?:"
    + "|".join(re.escape(t) for text in sorted({*P.ANSWER_IN.values(), *P.ANSWER_ACROSS.values()}, key=len, reverse=True)
               for t in {text, to_traditional(text)})
    + r")\s*[）)]")


def drop_echo(answer: str, question: str) -> str:
    """A small model sometimes starts by repeating the question turn, instruction and all
    ("…為什麼重要？（參考[2]；用繁體中文完整回答）"): drop the instruction, a first line that
    only repeats the question, and an opening question made of the question's own words
    ("Google 为什么要开放 Gemma 4[1]？" before the answer)."""
    text = _INSTRUCTION_ECHO.sub("", answer)
    first, _, rest = text.partition("\n")
    plain = MARKER.sub("", first).strip()
    asked = (normalize(question.strip()), normalize(to_traditional(question.strip())))
    if rest.strip() and normalize(plain) in asked:
        text = rest
    opening = _OPENING_QUESTION.match(text)
    if opening and text[opening.end():].strip():
        said = normalize(MARKER.sub("", opening.group(1))).strip()
        if len(said) >= _ECHOED_CHARS and any(said in a for a in asked):
            text = text[opening.end():]
    return text.strip()


# A reply's first sentence when it is a question, its markers included ("Google 为什么要开放 Gemma 4[1]？").
_OPENING_QUESTION = re.compile(r"\s*([^。！？!?.\n]+?)\s*(?:\[\d+\]\s*)*[？?](?:\s*\[\d+\])*")
_ECHOED_CHARS = 6            # an opening question this long, found in the user's question, repeats it


def drop_repeated_items(answer: str) -> str:
    """A list item that says again what an earlier item of its list said, word for word (markers,
    numbering and closing marks aside: "6. 在分發修改後的套件時，…[4]。" twice), or only its start (as a
    last item the token limit cut off does), is dropped, and the numbered items after it are numbered on.
    A line of prose ends a list."""
    seen: set[str] = set()
    lines, dropped = [], 0
    for line in answer.split("\n"):
        m = _LIST_LINE.match(line)
        if m is None:
            if line.strip():
                seen, dropped = set(), 0
            lines.append(line)
            continue
        said = normalize(MARKER.sub("", m.group("body"))).strip(" \t。.；;，,")
        if said and (said in seen or len(said) >= _CUT_ITEM and any(s.startswith(said) for s in seen)):
            dropped += 1
            continue
        seen.add(said)
        number = m.group("number")
        if number and dropped:
            line = f"{m.group('indent')}{int(number) - dropped}{line[m.end('number'):]}"
        lines.append(line)
    return "\n".join(lines)


_CUT_ITEM = 10                # characters of an item cut off inside what an earlier item said that is dropped too
_LIST_LINE = re.compile(r"^(?P<indent>[ \t]*)(?:(?P<number>\d{1,2})[.)、]|[-*•])[ \t]+(?P<body>.+)$")
