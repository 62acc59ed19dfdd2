"""Follow-up questions in any corpus. A question that refers back ("那商用呢？", "Which
companies worked on the smaller ones?", "Why?") is looked up together with the question
it follows; one that finds its answer on its own is looked up alone. The decision uses
only the language (pronouns, demonstratives, elliptical openings and endings) and the
retrieval verdict itself, never words of a particular corpus.

The model always sees the last turns as chat history; this module decides what
retrieval searches for, which sets the relevance verdict (refuse or answer), the
passages hinted to the model and, beyond the cached corpus, the passages it reads."""
from __future__ import annotations

import re
from typing import Callable

from .prompt import says_no_answer
from .text import HAN, parts_of_speech

# Words that point at something said before. Chinese: third-person pronouns,
# demonstratives, 上述/前者/后者; an opening 那/那么/还有/另外 ("and then ...") or 具体 ("specifically"); a closing
# 呢 ("那商用呢？"). English: pronouns and "ones", "the same", openings such as "and",
# "also", "what about".
_ZH_REFER = re.compile(r"它|(?<!尤)其(?![他實实])|[这這]|那(?![么麼])|(?<![应應])[该該]|(?<!因)此|他[们們]|她[们們]|"
                       r"上述|前者|[后後]者|同[样樣]")
_ZH_OPEN = re.compile(r"^\s*(?:那|那么|那麼|还有|還有|另外|而且|以及|和|跟|至于|至於|然后|然後|所以|具体|具體)")
_ZH_CLOSE = re.compile(r"呢\s*[？?]?\s*$")
_EN_REFER = re.compile(r"\b(?:it|its|it's|they|them|their|theirs|those|these|ones|he|she|him|his|her|hers|"
                       r"the same|the latter|the former|that one|this one)\b", re.IGNORECASE)
# "this"/"that" pointing at something ("When was that preview announced?", "Who said that?"), not
# opening a clause ("says that developers …", "the models that support …"): at the end of the question,
# or after a verb, a preposition or a question word and before a word in lower case that is no pronoun
# or article.
_EN_DEMONSTRATIVE = re.compile(
    r"\b(?:this|that)\s*[?.!]?\s*$|\b(?:is|was|are|were|does|did|do|has|have|had|can|could|will|would|should|"
    r"may|might|of|in|on|about|for|from|with|by|to|under|at|regarding|when|why|how|where|which|what)\s+"
    r"(?:this|that)\s+(?!(?:i|you|he|she|we|they|it|the|a|an|there|is|was)\b)[a-z]", re.IGNORECASE)
_EN_OPEN = re.compile(r"^\s*(?:and|also|then|so|but|or|what about|how about|and what|as for|same for)\b",
                      re.IGNORECASE)
_KEEP_SEGMENTS = 3            # a chain of follow-ups carries at most the last three questions


def refers_back(question: str) -> bool:
    """Does the question point at an earlier turn by its wording alone?"""
    q = question.strip()
    return bool(_ZH_REFER.search(q) or _ZH_OPEN.search(q) or _ZH_CLOSE.search(q)
                or _EN_REFER.search(q) or _EN_OPEN.search(q) or _en_demonstrative(q) or _zh_without_subject(q))


def _zh_without_subject(question: str) -> bool:
    """A Chinese question with no noun and no Latin name ("从哪一天开始算？", "要付钱吗？") is about
    something said before: jieba's part-of-speech tags tell."""
    if not HAN.search(question) or re.search(r"[A-Za-z]", question):
        return False
    return not any(tag.startswith(("n", "eng")) for _, tag in parts_of_speech(question))


def _en_demonstrative(question: str) -> bool:
    m = _EN_DEMONSTRATIVE.search(question)
    return m is not None and (m.group(0).rstrip(" ?.!").lower().endswith(("this", "that"))
                              or m.group(0)[-1].islower())


def joined(question: str, previous: str) -> str:
    """The question with the one it follows ("Gemma 4 采用什么许可证; 那商用呢？"), keeping
    only the last few questions of a long chain."""
    parts = [p for p in (s.strip() for s in previous.split("; ")) if p][-(_KEEP_SEGMENTS - 1):]
    parts = [re.sub(r"[？?。.!！]+$", "", p) for p in parts]
    return "; ".join(parts + [question.strip()])


def standalone_question(question: str, history) -> str:
    """What to look up, from the wording alone (no retrieval): the question joined to the
    previous one when it refers back. `Assistant` also joins a question that finds nothing
    on its own; see `resolve`."""
    if not history or not refers_back(question):
        return question
    return joined(question, history[-1].standalone or history[-1].question)


def resolve(question: str, history, search: Callable) -> tuple[str, object]:
    """(standalone question, retrieval). `search(query, also=None)` runs hybrid retrieval;
    `also` fuses a second query's ranking in. A question that refers back is searched
    joined with the previous one, its own words fused in (alone when that finds nothing,
    e.g. after a refused turn). Any other question is searched
    alone first; only when that finds nothing relevant (and it names nothing the
    documents lack) is it tried joined, so a short elliptical turn ("Why?", "How big is
    the largest?") is not refused while a new, self-contained question keeps its own
    results."""
    if not history:
        return question, search(question)
    if refers_back(question):
        # The previous question may be what fails (a refused turn naming something the
        # documents lack): the question's own words decide then.
        return _continued(question, history, search) or (question, search(question))
    alone = search(question)
    if alone.relevant or alone.unknown_names:
        return question, alone
    return _continued(question, history, search) or (question, alone)


def _continued(question: str, history, search: Callable) -> tuple[str, object] | None:
    """The question joined to the first of `_followed` whose search finds something relevant, its own
    words fused in; None when none does."""
    for previous in _followed(history):
        together = joined(question, previous)
        retrieval = search(together, also=question)
        if retrieval.relevant:
            return together, retrieval
    return None


def _followed(history) -> list[str]:
    """The questions a follow-up may continue: the previous one and, when that turn was
    refused ("And on iPhones?" after an answered question), the last answered one before it,
    which "When was that preview announced?" then points back to."""
    previous = [history[-1].standalone or history[-1].question]
    if says_no_answer(history[-1].answer):
        answered = next((t for t in reversed(history[:-1]) if not says_no_answer(t.answer)), None)
        if answered is not None:
            previous.append(answered.standalone or answered.question)
    return previous
