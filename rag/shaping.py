"""Output shaping: the model's text pieces as the user sees them, while they stream. A reply
that opens with the refusal marker is held back and never shown; Chinese answers lose the
English glosses the prompt adds to 万/亿 amounts; citation markers are renumbered
(`cite.CitationStream`); a Traditional Chinese answer is converted at phrase boundaries. After
the stream, `drop_echo` removes a repeated question turn from the draft."""
from __future__ import annotations

import re

from . import prompt as P
from .cite import MARKER, CitationStream
from .text import HAN, normalize, to_traditional


class GlossStrip:
    """Chinese answers drop the English glosses the prompt adds to 万/亿 amounts
    ("4 亿(400 million)" -> "4 亿"), holding back a gloss until it is complete."""
    GLOSS = re.compile(r"(?<=[万亿萬億])\s*[(（][\d.,]+(?:\s*(?:million|billion|thousand|万|亿|萬|億|千))?[)）]")
    PARTIAL = re.compile(r"[万亿萬億]\s*(?:[(（][\d.,]*(?:\s*[a-z万亿萬億千]*)?)?$")

    def __init__(self):
        self.pending = ""

    def feed(self, text: str) -> str:
        text = self.pending + text
        m = self.PARTIAL.search(text)
        cut = m.start() if m else len(text)
        self.pending = text[cut:]
        return self.GLOSS.sub("", text[:cut])

    def flush(self) -> str:
        text, self.pending = self.pending, ""
        return self.GLOSS.sub("", text)


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
        self.raw = ""          # what the model wrote
        self.shown = ""        # what the user was shown
        self.held = ""         # the start of the reply while it could still be the refusal marker
        self.refused = False

    def feed(self, piece: str) -> str:
        self.raw += piece
        start = self.raw.strip()
        if not self.shown and len(start) < len(P.REFUSAL_MARK) and P.REFUSAL_MARK.startswith(start):
            self.held = self.raw
            return ""
        if P.REFUSAL_MARK in self.raw[:40]:
            self.refused = True
            return ""
        out, self.held = (self.held + piece if self.held else piece), ""
        return self._show(out)

    def flush(self) -> str:
        tail = (self.gloss.feed(self.held) + self.gloss.flush()) if self.gloss else self.held
        tail = self.citations.feed(tail) + self.citations.flush()
        if self.script:
            tail = self.script.feed(tail) + self.script.flush()
        self.shown += tail
        return tail

    @property
    def found_nothing(self) -> bool:
        """The model refused, or wrote nothing else."""
        return self.refused or not self.raw.strip() or self.raw.strip() == P.REFUSAL_MARK

    def _show(self, text: str) -> str:
        if self.gloss:
            text = self.gloss.feed(text)
        text = self.citations.feed(text)
        if self.script:
            text = self.script.feed(text)
        self.shown += text
        return text


_INSTRUCTION_ECHO = re.compile(
    r"[（(]\s*(?:(?:参考|參考|see)\s*(?:\[\d+\])*\s*[；;，,]?\s*)?(?:"
    + "|".join(re.escape(t) for text in P.ANSWER_IN.values() for t in {text, to_traditional(text)})
    + r")\s*[）)]")


def drop_echo(answer: str, question: str) -> str:
    """A small model sometimes starts by repeating the question turn, instruction and all
    ("…為什麼重要？（參考[2]；用繁體中文完整回答）"): drop the instruction and a first line that
    only repeats the question."""
    text = _INSTRUCTION_ECHO.sub("", answer)
    first, _, rest = text.partition("\n")
    plain = MARKER.sub("", first).strip()
    if rest.strip() and normalize(plain) in (normalize(question.strip()), normalize(to_traditional(question.strip()))):
        text = rest
    return text.strip()
