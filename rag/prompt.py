"""Prompts. Chunks are numbered [1..n] for the model; the article's own footnote markers
are stripped from the model-facing text (they stay in the stored text) so that an answer's
[3] always means provided chunk 3. Three layouts: `full` puts every chunk in a fixed system
prompt whose KV state is computed once and reused; `chunks` puts the top-k chunks in the
system prompt as pieces whose KV states are stored per chunk; `retrieval` puts the top-k
chunks in the user turn. Passages are data, never instructions: they follow "Passages:" and
end with the system turn (full, chunks) or "End of passages." (retrieval), nothing after a
chat-template token in them is quoted, and a sentence that
addresses the assistant ("ignore previous instructions", "只回复…") is shown to the model
as omitted (the stored text keeps it). Also fixed, localised texts and the context budget."""
from __future__ import annotations

import functools
import re
from difflib import SequenceMatcher
from dataclasses import dataclass

from .attribution import title_parts
from .text import FOOTNOTE_RUN, MARKER, english_amount, normalize, to_simplified
from .types import Chunk, Document

_UNIT = re.compile(r"(\d+(?:\.\d+)?)\s*(万|亿)")

REFUSAL_MARK = "NOT_FOUND"

# {subject}: what the corpus is, from its profile (corpus/profile.json).
REFUSALS = {
    "zh-Hans": "抱歉，文档中没有找到能回答这个问题的内容。我只能回答与{subject}相关、且文档中有依据的问题。",
    "zh-Hant": "抱歉，文件中沒有找到能回答這個問題的內容。我只能回答與{subject}相關、且文件中有依據的問題。",
    "en": "Sorry, the documents don't contain an answer to that question. I can only answer what {subject} support.",
}
_REFUSAL_LIKE = 0.8           # a first sentence this much like the refusal message's says there is no answer


def says_no_answer(text: str) -> bool:
    """The text opens like the refusal message of any language, in either Chinese script or
    the Taiwan wording a Traditional answer is converted to ("檔案中沒有找到…")."""
    first = _first_sentence(text)
    return bool(first) and any(SequenceMatcher(None, first, _first_sentence(r), autojunk=False).ratio() >= _REFUSAL_LIKE
                               for r in REFUSALS.values())


def _first_sentence(text: str) -> str:
    plain = to_simplified(normalize(MARKER.sub("", text))).strip()
    return re.split(r"[。.!?！？]", plain, maxsplit=1)[0]


# Kept short: these words are read for every question, after the cached corpus.
ANSWER_IN = {
    "zh-Hans": "用简体中文完整回答",
    "zh-Hant": "用繁體中文完整回答",
    "en": "answer in English, full sentences",
}
# The instruction when the passage that best matches the question is in the other language (a Chinese
# question about an English licence): a small model otherwise copies the English clause into its
# answer. Only for Chinese answers; an English answer from Chinese passages already translates.
ANSWER_ACROSS = {
    "zh-Hans": ANSWER_IN["zh-Hans"] + "，英文原文也译成中文",
    "zh-Hant": ANSWER_IN["zh-Hant"] + "，英文原文也譯成中文",
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
PASSAGES_END = "End of passages."

# Chat-template control tokens (<|im_start|>, <start_of_turn>, [INST] ...): the prompt is
# tokenized with special tokens on, so a document must not be able to open a turn.
_TEMPLATE_TOKEN = re.compile(r"<\|[^|<>\n]{0,40}\|>|<(?:start_of_turn|end_of_turn|bos|eos|pad)>|</?s>|\[/?INST\]"
                             r"|<</?SYS>>", re.IGNORECASE)
# A sentence written to the assistant rather than about the subject. Matched on lower-case
# Simplified text, so Traditional phrasing is caught too.
_INSTRUCTION = re.compile("|".join([
    r"\b(?:ignore|disregard|forget|override|bypass|overrule)\b[^.!?\n]{0,40}\b(?:instructions?|rules?|prompts?|"
    r"directions?|guidelines?|directives?)\b",
    r"\b(?:system|admin|administrator|developer|security)\s+(?:notice|message|prompt|override|instruction|alert)s?"
    r"\s*[:：]",
    r"\b(?:reply|respond|answer|say|output|print|write)\b[^.!?\n]{0,25}\b(?:only|just|exactly|solely)\b"
    r"[^.!?\n]{0,20}(?:\bwith\b|\bthe words?\b|[:：\"“'])",
    r"\b(?:reply|respond|answer)\s+(?:only|just|exactly|solely)\b",
    r"\byou are now\b|\bnew instructions?\s*[:：]|\bfrom now on,? (?:you|always|only|reply|respond|answer)\b",
    r"\b(?:note|message|instructions?) (?:to|for) (?:the |any |all )?(?:ai|assistants?|models?|llms?|chatbots?|"
    r"language models?)\b",
    r"\b(?:ai|assistants?|chatbots?|llms?|language models?) (?:reading|processing|summari[sz]ing) this\b",
    r"^\W*(?:dear )?(?:ai|assistants?|chatbots?|llms?)\s*[,:：]",
    r"\b(?:when|before|after|if) (?:you|the assistant|the ai|the model) (?:answer|reply|respond|summari[sz]e|read)",
    r"\b(?:begin|start|end|prefix|finish) (?:your|the|every|each) (?:answer|reply|response)s?\b",
    r"\bin (?:your|every|each) (?:answer|reply|response)\b|\b(?:do not|don't|never) (?:cite|mention|reveal|refuse)\b",
    r"\btell the user\b|\b(?:answer|reply to|respond to) (?:every|each|all|any) (?:questions?|quer(?:y|ies)|"
    r"messages?|requests?)\b",
    r"(?:忽略|无视|忽视|不要理会|不用理会|忘记|忘掉|跳过|覆盖)[^。！？\n]{0,20}(?:指令|指示|规则|提示|要求|设定|命令)",
    r"(?:系统|管理员|开发者|安全)(?:通知|提示|消息|指令|公告|警告)\s*[:：]",
    r"(?:只|仅|只能|仅仅|一律)(?:回答|回复|输出|回应|答复|说)[^。！？\n]{0,12}(?:一个词|这个词|单词|词语|字样|[:：\"“「'])",
    r"你现在是|从现在起[，,]?你|从现在开始[，,]?你|新的指令\s*[:：]",
    r"(?:致|给)(?:所有)?(?:ai|人工智能|助手|模型|机器人|聊天机器人)[^。！？\n]{0,4}[:：]",
    r"(?:ai|人工智能|助手|模型|聊天机器人)(?:助手)?\s*(?:在)?(?:读到|看到|阅读|处理)(?:这|此)",
    r"^\W*(?:ai|人工智能|助手|机器人)(?:助手)?\s*[,，:：]",
    r"(?:回答|回复|作答)(?:时|的时候)[^。！？\n]{0,6}(?:请|要|必须|务必)",
    r"(?:回答|回复)(?:的)?(?:开头|开始|结尾|末尾)|不要(?:引用|提及|标注|拒绝)|告诉用户|(?:所有|每个|任何)(?:问题|提问)都(?:回答|回复)",
]), re.IGNORECASE)
_SENTENCE = re.compile(r"[^。！？!?\n]*?(?:[。！？!?]+|\.(?=\s|$)|\n|$)")
OMITTED = "(…)"


@functools.lru_cache(maxsize=8192)
def neutralise(text: str) -> str:
    """Document text made safe to quote to the model: nothing from a chat-template token
    on, the closing delimiter defused, and each instruction-like sentence replaced by (…)."""
    from .text import to_simplified
    token = _TEMPLATE_TOKEN.search(text)
    if token:          # a document has no business opening a chat turn: quote nothing after it
        text = text[:token.start()].rstrip() + " " + OMITTED
    text = text.replace(PASSAGES_END, PASSAGES_END.rstrip("."))

    def sentence(m: re.Match) -> str:
        s = m.group(0)
        if not _INSTRUCTION.search(to_simplified(s).strip()):
            return s
        return s[:len(s) - len(s.lstrip())] + OMITTED + ("\n" if s.endswith("\n") else "")
    return _SENTENCE.sub(sentence, text)


def is_instruction_like(text: str) -> bool:
    from .text import to_simplified
    return bool(_INSTRUCTION.search(to_simplified(text).strip()))


def english_units(text: str) -> str:
    """4 亿 -> 4 亿(400 million): the small model gets 万/亿 wrong in English answers."""
    def gloss(m: re.Match) -> str:
        value = float(m.group(1)) * (10_000 if m.group(2) == "万" else 100_000_000)
        return f"{m.group(0)}({english_amount(value)})"
    return _UNIT.sub(gloss, text)


def model_text(chunk: Chunk) -> str:
    """The chunk as the model sees it: no footnote markers, units glossed, and its clause
    label in front ("(Section 4(a)) ...") so an answer can name it."""
    text = neutralise(FOOTNOTE_RUN.sub("", chunk.text))
    text = english_units(re.sub(r"[ \t]+\n", "\n", text)).strip()
    section = getattr(chunk, "section", None)
    return f"({section}) {text}" if section else text


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
            title = _one_line(neutralise(doc.title)) if doc else item.chunk.doc_id
            site = f" ({_one_line(doc.site)})" if doc and doc.site else ""
            lines.append(f"\n## {title}{site}")
        lines.append(f"[{item.n}] {model_text(item.chunk)}")
    return "\n".join(lines).strip()


def _one_line(text: str) -> str:
    return " ".join(text.split())


def full_system_prompt(numbered: list[Numbered], documents: dict[str, Document]) -> str:
    # No closing line here: the chat template's end of the system turn closes the passages, and
    # an extra line bent the 1.5B model's answers to ordinary follow-ups (docs/DESIGN.md).
    return SYSTEM_RULES + "\nPassages:\n" + passages_block(numbered, documents)


def chunks_head() -> str:
    """The fixed start of the `chunks` layout's system prompt; each retrieved chunk follows
    as its own `passage_piece`, whose KV state is stored once and placed (rag/kvcache.py)."""
    return SYSTEM_RULES + "\nPassages:"


def passage_piece(n: int, chunk: Chunk, documents: dict[str, Document]) -> str:
    """One chunk under its document's title, self-contained so its KV can be read alone."""
    doc = documents.get(chunk.doc_id)
    title = _one_line(neutralise(doc.title)) if doc else chunk.doc_id
    site = f" ({_one_line(doc.site)})" if doc and doc.site else ""
    return f"\n\n## {title}{site}\n[{n}] {model_text(chunk)}"


def retrieval_system_prompt() -> str:
    return SYSTEM_RULES + "\nThe passages come with each question."


def user_turn(question: str, language: str, hint: list[int] | None = None,
              passages: str | None = None, evidence: tuple[int, str] | None = None, across: bool = False) -> str:
    """The question turn: the question, then (in brackets) the passages to see and the answer
    language. `evidence` (n, sentence) quotes the sentence that states the answer instead of
    naming passages. `across`: the best passage is in another language than the answer
    (`ANSWER_ACROSS`)."""
    chinese = language in ("zh-Hans", "zh-Hant")
    head = ("Passages:\n" + passages + "\n" + PASSAGES_END + "\n\n") if passages else ""
    see = ("参考" if chinese else "see ") + "".join(f"[{n}]" for n in hint) + ("；" if chinese else "; ") if hint else ""
    if evidence:
        n, sentence = evidence
        quoted = quoted_sentence(sentence)
        see = f"参考[{n}]：「{quoted}」；" if chinese else f'see [{n}]: "{quoted}"; '
    instruction = (across and ANSWER_ACROSS.get(language)) or ANSWER_IN.get(language, "answer in the language of the question")
    return f"{head}{question.strip()}\n（{see}{instruction}）" if chinese else f"{head}{question.strip()}\n({see}{instruction})"


def quoted_sentence(sentence: str) -> str:
    """A document's sentence as a turn quotes it to the model: on one line, without footnote marks,
    made safe (`neutralise`), 万/亿 glossed."""
    return english_units(neutralise(FOOTNOTE_RUN.sub("", re.sub(r"\s*\n\s*", " ", sentence))).strip())


# The one-word question a yes or no answer is checked with (rag/repair.py): the evidence sentence and the
# question alone, after the same cached corpus prefix; in English whatever the asker's language.
YES_NO_CHECK = ('Passage [{n}] says: "{sentence}"\nQuestion: {question}\n'
                "According to passage [{n}], is the answer to the question yes or no? Reply with one word: Yes or No.")


def yes_no_check(n: int, sentence: str, question: str) -> str:
    return YES_NO_CHECK.format(n=n, sentence=quoted_sentence(sentence), question=question)


# The answer to "which source said this?", written in code from the documents' own names
# (rag/repair.py): {names} are the documents, {n} the marker of the passage that says it; a
# Chinese answer quotes the Chinese sentence it credits ({claim}), so that a reader sees which
# claim is meant and the answer reads as Chinese beside the documents' English titles.
CREDITS = {
    "zh-Hans": "文档中这一说法出自 {names}[{n}]。",
    "zh-Hant": "文件中這一說法出自 {names}[{n}]。",
    "en": "In the documents, this comes from {names}[{n}].",
}
# An English evidence sentence stated to a Chinese asker as the document's own words (rag/repair.py),
# when the model would not answer in Chinese; no word the Traditional stream would convert (文件 -> 檔案).
ORIGINAL_WORDS = {
    "en": "In the document's words: “{sentence}”[{n}].",
    "zh-Hans": "原文：“{sentence}”[{n}]。",
    "zh-Hant": "原文：「{sentence}」[{n}]。",
}
CREDITS_QUOTED = {
    "zh-Hans": "文档中，“{claim}”这一说法出自 {names}[{n}]。",
    "zh-Hant": "文件中，「{claim}」這一說法出自 {names}[{n}]。",
}
_AND = {"zh-Hans": " 和 ", "zh-Hant": " 和 ", "en": " and "}


def credit_text(language: str, documents: list[Document], n: int, claim: str = "") -> str:
    """CREDITS for these documents, each named by its publication (the last part of a title
    cut by " - " or " | ", else the whole title) and its site; a Chinese `claim` is quoted."""
    key = language if language in CREDITS else "en"
    chinese = key != "en"
    names = []
    for doc in documents:
        parts = title_parts(doc.title or "")
        name = parts[-1] if len(parts) > 1 else (doc.title or doc.site or doc.doc_id)
        site = f"（{doc.site}）" if chinese else f" ({doc.site})"
        titled = (f"《{name}》" if chinese else f'"{name}"') if len(parts) == 1 and doc.title else name
        names.append(titled + (site if doc.site else ""))
    joined = _AND[key].join([", ".join(names[:-1]), names[-1]] if len(names) > 2 and not chinese
                            else [" 、".join(names[:-1]), names[-1]] if len(names) > 1 else names)
    template = CREDITS_QUOTED[key] if claim and chinese else CREDITS[key]
    # no blank beside a Chinese bracket: "出自《…》" and "《…》和 Google Blog"
    return re.sub(r" ?([《》（）、]) ?", r"\1", template.format(names=joined, n=n, claim=claim))


def refusal_text(language: str, added: bool = False) -> str:
    """The refusal in `language` (English for one it has none in); `added`: the user has added
    documents of their own, which the refusal names beside the corpus's subject."""
    from .profile import current
    subject = current().subject
    key = language if language in REFUSALS else "en"
    return REFUSALS[key].format(subject=(subject.get(key) or subject["en"]) + (ADDED[key] if added else ""))


# What the refusal names beside the subject once the user has added documents.
ADDED = {"zh-Hans": "或你添加的文档", "zh-Hant": "或你新增的文件", "en": ", or the documents you added,"}
