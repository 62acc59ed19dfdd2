"""Prompts. Chunks are numbered [1..n] for the model; the article's own footnote markers
are stripped from the model-facing text (they stay in the stored text) so that an answer's
[3] always means provided chunk 3. Three layouts: `full` puts every chunk in a fixed system
prompt whose KV state is computed once and reused; `chunks` puts the top-k chunks in the
system prompt as pieces whose KV states are stored per chunk; `retrieval` puts the top-k
chunks in the user turn. Also fixed, localised texts and the context budget."""
from __future__ import annotations

import re
from dataclasses import dataclass

from .types import Chunk, Document

FOOTNOTES = re.compile(r"(?:\[\d{1,2}\])+")
_UNIT = re.compile(r"(\d+(?:\.\d+)?)\s*(万|亿)")

REFUSAL_MARK = "NOT_FOUND"

REFUSALS = {
    "zh-Hans": "抱歉，文档中没有找到能回答这个问题的内容。我只能回答与 Gemma 4 文章及其来源相关、且文档中有依据的问题。",
    "zh-Hant": "抱歉，文件中沒有找到能回答這個問題的內容。我只能回答與 Gemma 4 文章及其來源相關、且文件中有依據的問題。",
    "en": "Sorry, the documents don't contain an answer to that question. I can only answer what the Gemma 4 "
          "article and its sources support.",
}

# Kept short: these words are read for every question, after the cached corpus.
ANSWER_IN = {
    "zh-Hans": "用简体中文完整回答",
    "zh-Hant": "用繁體中文完整回答",
    "en": "answer in English, full sentences",
}

SYSTEM_RULES = (
    "You answer questions using ONLY the numbered passages below. Rules:\n"
    "1. Use only facts stated in the passages. Never use outside knowledge.\n"
    "2. After each sentence, cite the passage numbers it uses, like [3] or [3][7].\n"
    f"3. If the passages do not contain the answer, reply with exactly: {REFUSAL_MARK}\n"
    "4. Answer in 1 to 4 complete sentences that restate the subject and give the exact names, numbers\n"
    "   and dates from the passages. No remarks about the passages themselves.\n"
    "5. Answer in the language the user asks for.\n"
)


def english_units(text: str) -> str:
    """4 亿 -> 4 亿(400 million): the small model gets 万/亿 wrong in English answers."""
    def gloss(m: re.Match) -> str:
        value = float(m.group(1)) * (10_000 if m.group(2) == "万" else 100_000_000)
        if value >= 1e9:
            words = f"{value / 1e9:g} billion"
        elif value >= 1e6:
            words = f"{value / 1e6:g} million"
        else:
            words = f"{value:,.0f}"
        return f"{m.group(0)}({words})"
    return _UNIT.sub(gloss, text)


def model_text(chunk: Chunk) -> str:
    """The chunk as the model sees it: no footnote markers, units glossed."""
    text = FOOTNOTES.sub("", chunk.text)
    return english_units(re.sub(r"[ \t]+\n", "\n", text)).strip()


@dataclass
class Numbered:
    n: int
    chunk: Chunk


def passages_block(numbered: list[Numbered], documents: dict[str, Document]) -> str:
    """Passages grouped under their document's title, each with its number."""
    lines: list[str] = []
    current = None
    for item in numbered:
        doc = documents.get(item.chunk.doc_id)
        if item.chunk.doc_id != current:
            current = item.chunk.doc_id
            title = doc.title if doc else item.chunk.doc_id
            site = f" ({doc.site})" if doc and doc.site else ""
            lines.append(f"\n## {title}{site}")
        lines.append(f"[{item.n}] {model_text(item.chunk)}")
    return "\n".join(lines).strip()


def full_system_prompt(numbered: list[Numbered], documents: dict[str, Document]) -> str:
    return SYSTEM_RULES + "\nPassages:\n" + passages_block(numbered, documents)


def chunks_head() -> str:
    """The fixed start of the `chunks` layout's system prompt; each retrieved chunk follows
    as its own `passage_piece`, whose KV state is stored once and placed (rag/kvcache.py)."""
    return SYSTEM_RULES + "\nPassages:"


def passage_piece(n: int, chunk: Chunk, documents: dict[str, Document]) -> str:
    """One chunk under its document's title, self-contained so its KV can be read alone."""
    doc = documents.get(chunk.doc_id)
    title = doc.title if doc else chunk.doc_id
    site = f" ({doc.site})" if doc and doc.site else ""
    return f"\n\n## {title}{site}\n[{n}] {model_text(chunk)}"


def retrieval_system_prompt() -> str:
    return SYSTEM_RULES + "\nThe passages come with each question."


def user_turn(question: str, language: str, hint: list[int] | None = None,
              passages: str | None = None) -> str:
    chinese = language in ("zh-Hans", "zh-Hant")
    head = ("Passages:\n" + passages + "\n\n") if passages else ""
    see = ("参考" if chinese else "see ") + "".join(f"[{n}]" for n in hint) + ("；" if chinese else "; ") if hint else ""
    instruction = ANSWER_IN.get(language, "answer in the language of the question")
    return f"{head}{question.strip()}\n（{see}{instruction}）" if chinese else f"{head}{question.strip()}\n({see}{instruction})"


def refusal_text(language: str) -> str:
    return REFUSALS.get(language, REFUSALS["en"])
