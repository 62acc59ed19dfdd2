"""Answer assembly: from a question's record (what retrieval found, the context given, what
the model wrote and when) to the `Answer`. The draft is checked sentence by sentence against
the chunks it cites (cite.check_answer), its markers renumbered, each citation given the
sources an article chunk cites in turn (provenance); a draft nothing supports, or a model that
found no answer, becomes the localized refusal."""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

from . import prompt as P
from .attribution import credited_documents
from .cite import check_answer, renumber
from .context import Context
from .llm import GenStats
from .retrieve import Retriever, named_files
from .shaping import Shaper, drop_echo, drop_repeated_items
from .store import IndexData
from .text import to_traditional
from .types import Answer, Citation, ContextUse, Hit, Timings


@dataclass
class Question:
    """One question on its way through the assistant: what each later step needs."""
    text: str
    language: str
    standalone: str
    started: float = field(default_factory=time.perf_counter)
    hits: list[Hit] = field(default_factory=list)
    retrieve_s: float = 0.0
    context: Context | None = None
    stats: GenStats = field(default_factory=GenStats)
    first_shown: float | None = None       # seconds from the start to the first text shown

    def shown_now(self) -> None:
        if self.first_shown is None:
            self.first_shown = time.perf_counter() - self.started


_TITLE_LINE = re.compile(r"^\[\d+\] .+\([a-z0-9.-]+\.[a-z]{2,}\)$")


def is_title_list(text: str) -> bool:
    """A chunk that is mostly a list of source titles ("[1] Title (site)" lines: an article's 来源 list)."""
    lines = [l.strip() for l in text.splitlines() if l.strip() and l.strip() != "来源"]
    return bool(lines) and sum(bool(_TITLE_LINE.match(l)) for l in lines) >= 0.6 * len(lines)


class Assembler:
    """Answers from one index version (its chunks, documents and retriever)."""

    def __init__(self, data: IndexData, retriever: Retriever, model_name: str):
        self.data, self.retriever, self.model_name = data, retriever, model_name

    def refusal(self, q: Question, reason: str) -> Answer:
        """The refusal for a question the model was not asked."""
        elapsed = round(time.perf_counter() - q.started, 4)
        added = not all(d.shipped for d in self.data.documents.values())
        return Answer(q.text, P.refusal_text(q.language, added), q.language, refused=True, refusal_reason=reason,
                      retrieved=list(q.hits), standalone_question=q.standalone,
                      timings=Timings(retrieve_s=round(q.retrieve_s, 4), ttft_s=elapsed, total_s=elapsed),
                      model=self.model_name)

    def refusal_after_model(self, q: Question, reason: str) -> Answer:
        """The refusal for a question the model was asked, with its real timings."""
        answer = self.refusal(q, reason)
        answer.timings, answer.context = self.timings(q), self.context_use(q)
        return answer

    def answer(self, q: Question, shaper: Shaper) -> Answer:
        context = q.context
        order = shaper.citations.order                          # display n-1 -> model n
        positions = {i + 1: context.numbering[m] for i, m in enumerate(order)}
        scores = {self.data.position(h.chunk_id): h.score for h in q.hits}
        # Best retrieval rank first, but a bare list of source titles (the article's 来源
        # list) last: when it ties with the sentence that states the fact, cite the sentence.
        ranked = sorted(context.given, key=lambda p: (is_title_list(self.data.chunks[p].text), -scores.get(p, -1.0)))
        # A question that names a document ("Under MPL 2.0, …") is answered from that document, or
        # from a passage that names it: another licence's clauses in the context back nothing.
        off = self._off_named(q, {*ranked, *positions.values()})
        chunk_for = {n: "" if p in off else self._as_read(p, q.language) for n, p in positions.items()}
        backing = [p for p in ranked if p not in off]
        all_given = {p: self._as_read(p, q.language) for p in backing}
        shown = drop_repeated_items(drop_echo(shaper.shown, q.text))
        names = {p: self._name(p) for p in backing}
        checked, added = check_answer(shown, chunk_for, all_chunks=all_given, glossary=self.retriever.glossary,
                                      retrieved=set(scores), credited=self._credited(backing), key_of=positions,
                                      names=names, asked=q.standalone or q.text)
        positions.update(added)
        text, mapping = renumber(checked.text)
        positions = {mapping[n]: p for n, p in positions.items() if n in mapping}
        if not checked.supported:
            # Nothing in the draft is backed by the documents (a guess, or a passage's text
            # taking over the answer, like "PWNED"): say so instead of showing it.
            refusal = self.refusal_after_model(q, "no sentence of the draft answer is supported by the documents")
            refusal.draft, refusal.unsupported = shown, checked.unsupported
            return refusal
        citations = [Citation(**vars(self._hit(positions[n], scores)), n=n, sources=self.provenance(positions[n]))
                     for n in sorted(positions)]
        return Answer(q.text, text, q.language, citations=citations, retrieved=[self._hit(p, scores) for p in ranked],
                      standalone_question=q.standalone, unsupported=checked.unsupported,
                      context=self.context_use(q), timings=self.timings(q), model=self.model_name)

    def credited(self, q: Question, doc_ids: list[str], position: int, claim: str = "") -> Answer:
        """The answer to a question asking which document said something: those documents named
        from their titles and sites (not by the model), citing the passage at `position` that
        says it (`claim`, quoted in a Chinese answer), with the sources it cites in turn."""
        documents = [self.data.documents[d] for d in doc_ids]
        scores = {self.data.position(h.chunk_id): h.score for h in q.hits}
        citation = Citation(**vars(self._hit(position, scores)), n=1, sources=self.provenance(position))
        ranked = sorted(q.context.given if q.context else [position], key=lambda p: -scores.get(p, -1.0))
        return Answer(q.text, P.credit_text(q.language, documents, 1, claim), q.language, citations=[citation],
                      retrieved=[self._hit(p, scores) for p in ranked], standalone_question=q.standalone,
                      context=self.context_use(q), timings=self.timings(q), model=self.model_name)

    def _credited(self, given: list[int]):
        """sentence -> the given chunks of the documents it credits with its claim."""
        def credited(sentence: str) -> set[int]:
            owners = credited_documents(sentence, self.data.documents)
            return {p for p in given if self.data.chunks[p].doc_id in owners} if owners else set()
        return credited

    def _off_named(self, q: Question, given: set[int]) -> set[int]:
        """The given chunks off the documents the question names by their file names ("GPLv3" names
        GPL-3.txt; retrieve.named_files): those of other documents that do not name one of them
        themselves. Empty when the question names no document."""
        files = self.retriever.file_names
        named = named_files(q.text, files) | named_files(q.standalone or "", files)
        if not named:
            return set()
        wanted = {d: files[d] for d in named}
        return {p for p in given if self.data.chunks[p].doc_id not in named
                and not named_files(self.data.chunks[p].text, wanted)}

    def _as_read(self, position: int, language: str) -> str:
        # The model reads each chunk under its document's title and site, so "according
        # to 9to5Google" is checked against the site too (the title: `_name`). A Traditional
        # answer uses Taiwan wording (支持 -> 支援, 窗口 -> 視窗): check it against both forms.
        chunk = self.data.chunks[position]
        doc = self.data.documents.get(chunk.doc_id)
        text = P.model_text(chunk) + (f"\n({doc.site})" if doc and doc.site else "")
        return text + "\n" + to_traditional(text) if language == "zh-Hant" else text

    def _name(self, position: int) -> str:
        """The name the chunk at `position` is read under: its document's label (the title, and an
        added document's file name, "LGPL-2.1"), for a sentence that restates it."""
        doc = self.data.documents.get(self.data.chunks[position].doc_id)
        return doc.label if doc else ""

    def _hit(self, position: int, scores: dict[int, float]) -> Hit:
        return self.retriever.hit(position, float(scores.get(position, 0.0)))

    @staticmethod
    def timings(q: Question) -> Timings:
        total = time.perf_counter() - q.started
        return Timings(retrieve_s=round(q.retrieve_s, 4),
                       ttft_s=round(q.first_shown if q.first_shown is not None else total, 4),
                       generate_s=round(q.stats.generate_s, 4), total_s=round(total, 4),
                       completion_tokens=q.stats.completion_tokens, tokens_per_s=round(q.stats.tokens_per_s, 2))

    @staticmethod
    def context_use(q: Question) -> ContextUse:
        c = q.context
        return ContextUse(c.layout, len(c.given), c.trimmed, q.stats.prompt_tokens, q.stats.cached_tokens)

    def provenance(self, position: int) -> list[dict]:
        """The cited sources behind an article chunk: its [n] footnotes resolved to the
        source documents of the article's 来源 list."""
        chunk = self.data.chunks[position]
        doc = self.data.documents.get(chunk.doc_id)
        if not doc or doc.kind != "article" or not chunk.cites:
            return []
        mapping = doc.meta.get("sources", {})
        out = []
        for n in chunk.cites:
            source = self.data.documents.get(mapping.get(str(n), ""))
            if source:
                snippet = source.text.split("\n\n", 1)[-1].strip()
                out.append({"number": n, "doc_id": source.doc_id, "title": source.title, "site": source.site,
                            "url": source.url, "snippet": snippet})
        return out
