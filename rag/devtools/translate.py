"""Question translation by the local model, measured by `rag eval --translate` as a retrieval
variant. Not used when answering: the glossary reaches the same evidence@5 at no model cost
(docs/EVAL.md)."""
from __future__ import annotations

import weakref

from ..llm import GenStats

_CACHE: "weakref.WeakKeyDictionary[object, dict[str, str]]" = weakref.WeakKeyDictionary()


def translate(assistant, question: str) -> str:
    """A Simplified Chinese rendering of a question, cached per assistant and question. Asked
    after the cached corpus prefix, so it costs only its own turn."""
    cache = _CACHE.setdefault(assistant, {})
    if question not in cache:
        instruction = "Translate this question into Simplified Chinese. Reply with the translation only.\n" + question
        messages = [{"role": "system", "content": assistant.full_prompt()[0]}, {"role": "user", "content": instruction}]
        if assistant.layout() == "full":
            assistant.warm()
        pieces = assistant.llm.stream_messages(messages, 80, GenStats())
        cache[question] = "".join(pieces).strip().split("\n")[0]
    return cache[question]
