"""`rag eval --baseline`: the plain baseline every answer column is compared with. The whole
article (the corpus's documents of kind `article`; every document when there is none) is
pasted into one chat turn with the question after it, as a reader would paste it into a chat
with the same model: no retrieval, no passages, no citation check. Scored with the same fact
and language rules as the pipeline; a reply that opens with the refusal marker (the turn
asks for it when the article does not say) counts as a refusal. The article comes first in
every turn, so llama.cpp reads it once and each question pays only for its own tokens."""
from __future__ import annotations

from ..llm import GenStats
from ..prompt import ANSWER_IN, REFUSAL_MARK
from ..shaping import opens_with_control_word, strip_control_word

INSTRUCTION = {
    "zh-Hans": f"请只根据上面的文章回答。如果文章里没有答案，只回复 {REFUSAL_MARK}。",
    "zh-Hant": f"請只根據上面的文章回答。如果文章裡沒有答案，只回覆 {REFUSAL_MARK}。",
    "en": f"Answer only from the article above. If the article does not say, reply only {REFUSAL_MARK}.",
}


def article_text(data) -> str:
    docs = [d for d in data.documents.values() if d.kind == "article"] or list(data.documents.values())
    return "\n\n".join(f"{d.title}\n\n{d.text}" if d.title and not d.text.startswith(d.title) else d.text
                       for d in docs).strip()


def baseline_messages(article: str, question: str, language: str) -> list[dict]:
    key = language if language in INSTRUCTION else "en"
    return [{"role": "user", "content": f"{article}\n\n{INSTRUCTION[key]}\n\n{question.strip()}\n"
                                        f"({ANSWER_IN.get(key, ANSWER_IN['en'])})"}]


class BaselineAnswer:
    """What `evaluate.score_answer` reads from an answer: the text, no citations."""

    def __init__(self, text: str, refused: bool, ttft_s: float):
        from ..types import Timings
        self.answer, self.refused, self.citations = text, refused, []
        self.timings = Timings(ttft_s=round(ttft_s, 4))


def ask_baseline(llm, article: str, question: str, language: str, max_tokens: int) -> BaselineAnswer:
    stats = GenStats()
    forget = getattr(llm, "forget_prefix", None)
    if forget:
        forget()                     # read the turn as it is, not after a cached corpus prefix
    try:
        text = "".join(llm.stream_messages(baseline_messages(article, question, language), max_tokens, stats))
    finally:
        if forget:
            forget()                 # the KV cache now holds the article, not the corpus prefix
    refused = bool(opens_with_control_word(text.strip())) or not strip_control_word(text).strip()
    return BaselineAnswer(strip_control_word(text).strip(), refused, stats.ttft_s or 0.0)
