"""Holding a date or amount answer to the sentence that states it (issue 16). After the
assistant has assembled an answer, `Repair.repaired` checks it: a draft no passage supports
(now a refusal), or a date or amount whose value is not the one the best evidence sentence
gives for the question's subject (rag/evidence.py), is repaired. An amount off by a 万/亿
scale is written again in code; otherwise the model answers once more with that sentence
quoted in the question turn, and the new answer replaces the old one only when it passes the
checks; failing that, the sentence itself is the answer when it is in the asker's language (for a
yes or no, a date or an amount, an English sentence is quoted to a Chinese asker as the original words).
An answer that is only a yes or no and the question's own words is repaired the same way, as are a
list made from one template (stopped at its third item, rag/shaping.py) and a follow-up's copy of the
previous answer (answered again without the history). A second reply replaces the first only in the
asker's language. A question asking which source said something, answered with no document's name, is
answered in code with the documents its best sentence comes from (rag/attribution.py); one asking what
a document said, answered from a passage that neither is that document's nor credits it, is answered
again with that document's best sentence quoted; one asking what a term means, answered without what the
sentence defining it says, is answered again with that sentence quoted; one quoting the documents' words,
answered without what the sentence holding them says, is answered again with that sentence quoted. Last, a
yes or no is checked: the model is asked once more for one word on the evidence sentence alone, and an answer
that word contradicts becomes that word and the sentence (`Repair._judged`)."""
from __future__ import annotations

import copy
import dataclasses
import re
import threading
from difflib import SequenceMatcher
from typing import Callable

from . import prompt as P
from .assemble import Assembler, Question, is_title_list
from .attribution import (asked_documents, asks_for_source, credits, named_documents, sentence_sources,
                          without_source_ask)
from .cite import SUPPORT_THRESHOLD
from .evidence import (Evidence, asked_terms, best_sentence, defined_term, definition_for, fix_amounts, hard_wrapped,
                       mismatch, question_kind, quoted_phrases, sentence_score, values, without_heading,
                       without_numbers)
from .followup import refers_back
from .llm import GenStats
from .shaping import Shaper
from .support import key_terms, rank_support, stem
from .text import (FOOTNOTE_RUN, GLUED_NUMBER, HAN, MARKER, detect_language, normalize, sentence_spans, singular,
                   to_simplified, to_traditional, tokenize)
from .types import Answer


class Repair:
    """What a repair needs from the assistant, named: the index (chunk texts), the cross-language
    word lists, the context builder, the model's shaped stream (`Assistant._shaped`) and the
    assembler."""

    def __init__(self, data, glossary: dict, build_context: Callable, shaped: Callable, assembler: Assembler,
                 judge: Callable | None = None):
        """`judge(q, turn)`: the model's few-word reply to `turn` asked in place of `q`'s question turn
        (`Assistant._judge`), for the yes-or-no check; None: no check."""
        self.data, self.glossary = data, glossary
        self.build_context, self.shaped, self.assembler = build_context, shaped, assembler
        self.judge = judge

    def evidence_for(self, q: Question, kind: str | None = None) -> Evidence | None:
        """The sentence of the best retrieved chunks that best states the answer (rag/evidence.py)."""
        top = [self._titled(p) for p in self._hit_positions(q)]
        return best_sentence(q.standalone or q.text, top, kind, self.glossary)

    def _titled(self, position: int) -> tuple[int, str, str]:
        """(position, text, its document's label: the title, with an added document's file name)."""
        chunk = self.data.chunks[position]
        doc = self.data.documents.get(chunk.doc_id)
        return position, chunk.text, doc.label if doc else ""

    def repaired(self, q: Question, shaper: Shaper, answer: Answer, history: list,
                 cancel: threading.Event | None) -> Answer | None:
        """`answer` or its repair (`_repaired`), its yes or no then checked (`_judged`). None when the user
        cancelled meanwhile."""
        answer = self._repaired(q, shaper, answer, history, cancel)
        if answer is None or (cancel is not None and cancel.is_set()):
            return answer
        return self._judged(q, answer)

    def _judged(self, q: Question, answer: Answer) -> Answer:
        """A yes-or-no question ("這份授權的版權授權需要付費嗎？") answered with a yes or no (or the question
        put as a statement, a yes): the model is asked once more, on the evidence sentence alone, for one
        word. When that word says the opposite, the answer is that word in the asker's language and the
        sentence ("不需要。原文：“… no-charge, royalty-free …”[2]。"): a 1.5B model reading the whole
        corpus says "yes" to the question's own words more often than it does reading the one sentence
        that decides it (docs/EVAL.md). Only a sentence that holds a quarter of the question's words and
        not only them, is in the asker's language or quotable to a Chinese asker, and opens no chunk cut
        inside it is used."""
        if self.judge is None or answer.refused or q.context is None or not yes_no_question(q.text):
            return answer
        said = said_yes(answer.answer, q)
        evidence = self.evidence_for(q) if said is not None else None
        if evidence is None or self._own_score(q, evidence) < _JUDGED_SCORE or _echoed(_words(evidence.sentence), q) \
                or self._cut_at_start(evidence):
            return answer
        chinese = q.language in ("zh-Hans", "zh-Hant")
        quoted = not _in_language(evidence.sentence, q)
        n = q.context.number_of(evidence.key)
        if n is None or (quoted and not chinese):
            return answer
        sentence = _quotable(evidence.sentence)
        verdict = judged_yes(self.judge(q, P.yes_no_check(n, evidence.sentence, q.standalone or q.text)))
        if verdict is None or verdict == said:
            return answer
        word = verdict_word(q, verdict)
        text = word + ("" if chinese else " ") + (P.ORIGINAL_WORDS[q.language].format(sentence=sentence, n=n)
                                                    if quoted else f"{sentence}[{n}]{'。' if chinese else '.'}")
        return self._cited(q, Shaper(q.language, set(q.context.numbering)), text) or answer

    def _repaired(self, q: Question, shaper: Shaper, answer: Answer, history: list,
                  cancel: threading.Event | None) -> Answer | None:
        """`answer`, or its repair (the module docstring says how). `history` is the
        conversation's earlier turns, for the context of a second reply. A refused draft is
        answered again only when it was a bare yes or no ("不是。", or one that only echoes the
        question: "是的，你写的代码以后还能用。") or an amount off by a scale. Such an echo is
        answered again when the check passed it too; if the model echoes once more, the evidence
        sentence is the answer when it holds enough of the question's words.
        None when the user cancelled meanwhile."""
        if asks_for_source(q.text):
            credited = self._credited(q, answer, history)
            if credited is not None:
                return credited
        else:
            sourced = self._from_asked_source(q, answer, cancel)
            if sourced is not answer:         # answered again, or None: cancelled
                return sourced
        defined = self._defined(q, answer, history, cancel)
        if defined is not answer:              # answered again, or None: cancelled
            return defined
        if not asks_for_source(q.text) and not asked_terms(q.text):
            quoted = self._from_quoted(q, answer, history, cancel)
            if quoted is not answer:           # answered again, or None: cancelled
                return quoted
        unsupported_draft = answer.refused
        # An answer that is a yes or no and the question's own words ("Yes, the licence lets you
        # use the trademarks.") passes the citation check on the question's words alone: nothing
        # in it says the passage agrees, so it is answered again with the evidence sentence.
        echo = not answer.refused and bare_yes_no(answer.answer, q) is not None
        # A list made from one template (rag/shaping.py) was stopped at its third item: the
        # model was making its items up, so it is answered again with the evidence sentence.
        templated = not answer.refused and shaper.templated
        # A follow-up answered with the previous answer again ("和 Gemini Nano 呢？" given the
        # answer about Gemini once more): the model copied the history instead of reading the
        # passages, so it is answered again from the sentence its own words find, without history.
        # A refusal said again (the model writing the refusal message itself) is no copy to repair.
        repeated = not answer.refused and bool(history) and repeats(answer.answer, history[-1].answer) \
            and not P.says_no_answer(history[-1].answer)
        kind = question_kind(q.text) or (question_kind(q.standalone) if q.standalone != q.text else None)
        if not unsupported_draft and not echo and not templated and not repeated and kind is None:
            # A no in the question's own words ("The licence does not cost anything.") says nothing
            # the passage can be seen to hold: the evidence sentence is shown after it.
            if not answer.refused and negated_echo(answer.answer, q):
                return self._quoted_after(q, shaper, answer) or answer
            return answer
        if repeated:
            evidence = self.evidence_for(dataclasses.replace(q, standalone=q.text)) or self.evidence_for(q)
        else:
            evidence = self.evidence_for(q, kind) if kind else None
            evidence = evidence or (self.evidence_for(q) if unsupported_draft or echo or templated else None)
        if evidence is None:
            return answer
        if not unsupported_draft and not echo and not templated and not repeated \
                and not self._wrong_value(answer.answer, evidence, kind, q):
            return answer
        scale_error = False
        if kind == "amount":
            fixed = fix_amounts(shaper.shown, evidence)
            scale_error = fixed != shaper.shown
            if scale_error:
                shaper.shown = fixed
                candidate = self.assembler.answer(q, shaper)
                if not candidate.refused and not mismatch(candidate.answer, evidence, kind):
                    return candidate
        if unsupported_draft and not scale_error and bare_yes_no(answer.draft or "", q) is None:
            return answer         # a refused draft is answered again only when it was a bare yes or no
            # (a draft with claims no passage backs may be a guess at a question the documents
            # do not answer; one with no claim at all, "Sure!", may be a hijacked reply)
        replied = self._reply_with(q, evidence, [] if repeated else history, cancel)
        if replied is None:
            return None
        again, shaper = replied
        if not shaper.found_nothing:
            if kind == "amount":
                shaper.shown = fix_amounts(shaper.shown, evidence)
            candidate = self.assembler.answer(again, shaper)
            if not candidate.refused and not (kind and mismatch(candidate.answer, evidence, kind)) \
                    and _in_language(candidate.answer, q) \
                    and not (echo and bare_yes_no(candidate.answer, q) is not None) and not shaper.templated \
                    and not (repeated and repeats(candidate.answer, history[-1].answer)):
                return candidate
        if (echo or templated or repeated) and not self._answers(q, evidence):
            # A sentence that holds few of the question's own words is no answer to it (a follow-up's
            # evidence is chosen with the question it follows: "What research is Gemma 4 built on;
            # Does that make it a replacement for Gemini?" found the research sentence), nor is one
            # made of them ("Licensed under the Apache License, Version 2.0" for "May I sell a
            # product that includes software licensed under the Apache License 2.0?").
            return answer
        # A yes or no, a date or an amount the model would not give in the asker's language: the
        # sentence is shown as the document's own words (a template or a copied answer is not).
        return self._stated(again, evidence, answer, quote_across=not templated and not repeated) or answer

    def _credited(self, q: Question, answer: Answer, history: list) -> Answer | None:
        """For a question asking which document said something, when the answer names none of the
        documents the best evidence sentence comes from (the model never sees the names of an article's
        footnoted sources, and answers "出自[1]", the claim again, or another source's name): those
        documents, named in code (attribution.sentence_sources). A follow-up that asks it of the previous
        answer ("这个说法出自哪些来源？", "And who said that?") asks it of that answer's first sentence, looked up
        anew (the question before may hold none of its words).
        None when the answer names one of them, or no sentence holds enough of the question's words."""
        named = named_documents(MARKER.sub(" ", answer.answer), self.data.documents) if not answer.refused else set()
        asked = dataclasses.replace(q, text=without_source_ask(q.text), standalone=without_source_ask(q.standalone or q.text))
        if history and refers_back(q.text) and len(tokenize(asked.text)) <= 1 and not P.says_no_answer(history[-1].answer):
            said = _first_claim(history[-1].answer)
            found = self.assembler.retriever.search(said, max(len(q.hits), 1)).hits
            asked = dataclasses.replace(q, text=said, standalone=said, hits=[*found, *q.hits])
        evidence = self.evidence_for(asked)
        if evidence is None or self._own_score(asked, evidence) < _STATED_SCORE:
            return None
        sources = sentence_sources(evidence.sentence, self.data.chunks[evidence.key], self.data.documents)
        if sources:
            sources = list(dict.fromkeys([*sources, *self._also_saying(evidence)]))
        if not sources or named & set(sources):
            return None               # no source to name, or the answer names one of them
        claim = _quotable(evidence.sentence) if q.language.startswith("zh") and _in_language(evidence.sentence, q) else ""
        claim = to_traditional(claim) if q.language == "zh-Hant" else claim
        return self.assembler.credited(q, sources, evidence.key, claim if len(claim) <= _QUOTED_CLAIM else "")

    def _also_saying(self, evidence: Evidence) -> list[str]:
        """The other documents that hold the evidence sentence word for word (two sources quoting one
        announcement: "Gemma 4 delivers an unprecedented level of intelligence-per-parameter"), by the
        documents that sentence comes from in each."""
        said = _plain(evidence.sentence)
        if len(said) < _CLAIM_LENGTH:
            return []
        found: list[str] = []
        for position, chunk in enumerate(self.data.chunks):
            if position != evidence.key and said in _plain(chunk.text):
                found += sentence_sources(evidence.sentence, chunk, self.data.documents)
        return found

    def _from_asked_source(self, q: Question, answer: Answer, cancel: threading.Event | None) -> Answer | None:
        """A question asking what a document said ("Engadget 是怎么描述…的？"), answered from a passage
        that is neither that document's nor credits it, or with a draft no passage backs: answered again with the sentence that best
        states it among the document's own and those whose footnotes or words credit it quoted. The
        new answer replaces the old only when it passes the checks, is in the asker's language, cites
        such a passage and says what the sentence says. `answer` when nothing changes; None when
        cancelled."""
        wanted, asked = asked_documents(q.text, self.data.documents)
        # A draft nothing backs was refused: it is answered again the same way (a model that cites
        # another document is as wrong there as one whose sentences no passage holds); a reply the
        # model refused itself, or a question retrieval found nothing for, is left refused.
        if answer.refused and not answer.draft or not wanted or (answer.citations and all(
                self._credits_any(self.data.position(c.chunk_id), wanted) for c in answer.citations)):
            return answer             # every passage it cites is that document's or credits it
        documents = self.data.documents
        positions = self._with_documents([*(q.context.given if q.context else []), *self._hit_positions(q)], wanted)
        chunks = [self._titled(p) for p in positions if not is_title_list(self.data.chunks[p].text)]
        evidence = best_sentence(asked, chunks, None, self.glossary,
                                 keep=lambda key, s: len(s) >= _CLAIM_LENGTH and not _LISTED.match(s)
                                 and credits(s, self.data.chunks[key], documents, wanted))
        if evidence is None or self._own_score(dataclasses.replace(q, text=asked), evidence) < _STATED_SCORE:
            return answer
        replied = self._answered_again(q, evidence, [], cancel)
        if replied is None:
            return None
        _, candidate = replied
        if candidate is None or candidate.refused or not _in_language(candidate.answer, q) \
                or not any(self._credits_any(self.data.position(c.chunk_id), wanted) for c in candidate.citations) \
                or not _says(evidence, candidate.answer, self.glossary):
            return answer
        return candidate

    def _defined(self, q: Question, answer: Answer, history: list, cancel: threading.Event | None) -> Answer | None:
        """A question asking what a term means ("「衍生作品」是什麼意思？"), answered without what the sentence
        defining it says ('"Derivative Works" shall mean any work …', found in the retrieved chunks'
        documents): answered again with that sentence quoted. The new answer replaces the old only
        when it passes the checks, is in the asker's language and says what the definition says; else
        the sentence itself is the answer when it is in the asker's language. `answer` when nothing
        changes; None when cancelled."""
        if not asked_terms(q.text):
            return answer
        hits = self._hit_positions(q)
        positions = self._with_documents(hits, {self.data.chunks[p].doc_id for p in hits})
        evidence = definition_for(q.text, [self._titled(p) for p in positions], self.glossary)
        if evidence is None or (not answer.refused and _defines(evidence, answer.answer, q.text, self.glossary)):
            return answer
        replied = self._answered_again(q, evidence, history, cancel)
        if replied is None:
            return None
        again, candidate = replied
        if candidate is not None and not candidate.refused and _in_language(candidate.answer, q) \
                and _defines(evidence, candidate.answer, q.text, self.glossary):
            return candidate
        return self._stated(again, evidence, answer) or answer

    def _from_quoted(self, q: Question, answer: Answer, history: list, cancel: threading.Event | None) -> Answer | None:
        """A question quoting the documents' words ("文章結論在「商業層面」列了哪幾件事？"), answered without what
        the retrieved sentence holding them says (the quoted words aside: an answer opening "在「商業層面」，"
        and going on about something else says nothing of it), or with a draft no passage backs: answered again
        with that sentence quoted. The new answer replaces the old only when it passes the checks, is in the
        asker's language and says what the sentence says; else the sentence itself is the answer when it is in
        the asker's language. `answer` when nothing changes; None when cancelled."""
        phrases = quoted_phrases(q.text)
        if not phrases or (answer.refused and not answer.draft):
            return answer             # a reply the model refused itself, or one retrieval found nothing for

        def holds(text: str) -> bool:
            plain = normalize(text)
            return any(phrase in plain for phrase in phrases)

        def says(text: str) -> bool:
            plain = normalize(text)
            for phrase in phrases:
                plain = plain.replace(phrase, " ")
            return _says(evidence, plain, self.glossary)
        chunks = [self._titled(p) for p in self._hit_positions(q) if holds(self.data.chunks[p].text)]
        evidence = best_sentence(q.text, chunks, None, self.glossary, keep=lambda key, s: holds(s))
        if evidence is None or (not answer.refused and says(answer.answer)):
            return answer
        replied = self._answered_again(q, evidence, history, cancel)
        if replied is None:
            return None
        again, candidate = replied
        if candidate is None:
            return answer
        if not candidate.refused and _in_language(candidate.answer, q) and says(candidate.answer):
            return candidate
        # twice answered without it: the sentence the asker points at, when it is in the asker's language
        return self._stated(again, evidence, answer) or answer

    def _answered_again(self, q: Question, evidence: Evidence, history: list,
                        cancel: threading.Event | None) -> tuple[Question, Answer | None] | None:
        """The second reply (`_reply_with`), checked and cited: (the question as asked again, its answer, or
        None when the model found nothing or made its list from one template). None when cancelled."""
        replied = self._reply_with(q, evidence, history, cancel)
        if replied is None:
            return None
        again, shaper = replied
        return again, None if shaper.found_nothing or shaper.templated else self.assembler.answer(again, shaper)

    def _reply_with(self, q: Question, evidence: Evidence, history: list,
                    cancel: threading.Event | None) -> tuple[Question, Shaper] | None:
        """The model's second reply to `q`, with `evidence` quoted in the question turn after `history`:
        (the question as asked again, its shaper, flushed unless the model found nothing). The reply is
        read to its end before anything of it is shown, so the caller checks it first. None when the
        user cancelled meanwhile."""
        if cancel is not None and cancel.is_set():
            return None
        again = dataclasses.replace(q, stats=GenStats(), context=self.build_context(
            q.text, q.language, q.hits, history, evidence=(evidence.key, evidence.sentence)))
        shaper = Shaper(q.language, set(again.context.numbering))
        for _ in self.shaped(again, shaper, cancel):
            pass
        if cancel is not None and cancel.is_set():
            return None
        if not shaper.found_nothing:
            shaper.flush()
        return again, shaper

    def _hit_positions(self, q: Question) -> list[int]:
        return [self.data.position(h.chunk_id) for h in q.hits]

    def _with_documents(self, positions: list[int], doc_ids: set[str]) -> list[int]:
        """`positions`, then every other chunk of these documents, in index order."""
        return list(dict.fromkeys([*positions, *self.data.positions_of(doc_ids)]))

    def _credits_any(self, position: int, wanted: set[str]) -> bool:
        """A sentence of the chunk at `position` is one of the `wanted` documents' or credits one."""
        chunk = self.data.chunks[position]
        if chunk.doc_id in wanted:
            return True
        if is_title_list(chunk.text):
            return False              # a list of source titles names every source and credits none
        return any(credits(chunk.text[a:b].strip(), chunk, self.data.documents, wanted)
                   for a, b in sentence_spans(chunk.text, document=True))

    def _own_score(self, q: Question, evidence: Evidence) -> float:
        _, _, title = self._titled(evidence.key)
        return sentence_score(q.text, evidence.sentence, title, self.glossary)

    def _answers(self, q: Question, evidence: Evidence) -> bool:
        """The sentence holds enough of the question's own words, and not only them: one that may be
        shown as the answer, or after it."""
        return self._own_score(q, evidence) >= _STATED_SCORE and not _echoed(_words(evidence.sentence), q)

    def _cited(self, q: Question, shaper: Shaper, text: str) -> Answer | None:
        """`text` (markers in the model's numbering) shown after what `shaper` holds, checked and cited;
        None when the check refuses it."""
        shaper.feed(text)
        shaper.flush()
        candidate = self.assembler.answer(q, shaper)
        return None if candidate.refused else candidate

    def _stated(self, q: Question, evidence: Evidence, answer: Answer, quote_across: bool = False) -> Answer | None:
        """The evidence sentence itself as the answer, cited (after a bare "不是。" the model would not
        expand, or a value it kept getting wrong), when it is in the asker's language; with
        `quote_across`, an English sentence is also quoted to a Chinese asker as the original words
        ("原文：「…」")."""
        chinese = q.language in ("zh-Hans", "zh-Hant")
        quoted = not _in_language(evidence.sentence, q)
        if quoted and not (quote_across and chinese):
            return None
        n = q.context.number_of(evidence.key)
        if n is None or self._cut_at_start(evidence):
            return None
        bare = (bare_yes_no(answer.draft or "", q) or "") if answer.refused else ""
        bare = bare + ("" if not bare or chinese else " ")
        sentence = _quotable(evidence.sentence)
        return self._cited(q, Shaper(q.language, set(q.context.numbering)),
                           bare + (P.ORIGINAL_WORDS[q.language].format(sentence=sentence, n=n) if quoted
                                   else f"{sentence}[{n}]{'。' if chinese else '.'}"))

    def _quoted_after(self, q: Question, shaper: Shaper, answer: Answer) -> Answer | None:
        """The answer with the evidence sentence after it, as the document's own words, when one
        holds enough of the question's words (and not only them) and the answer does not quote it."""
        evidence = self.evidence_for(q)
        if evidence is None or not self._answers(q, evidence) or self._cut_at_start(evidence):
            return None
        n = q.context.number_of(evidence.key)
        sentence = _quotable(evidence.sentence)
        if n is None or (not _in_language(sentence, q) and q.language == "en") \
                or _plain(sentence)[:40] in _plain(answer.answer):
            return None
        shaper = copy.deepcopy(shaper)
        shaper.shown = shaper.shown.rstrip()
        return self._cited(q, shaper, ("\n\n" if q.language == "en" else "")
                           + P.ORIGINAL_WORDS[q.language].format(sentence=sentence, n=n))

    def _cut_at_start(self, evidence: Evidence) -> bool:
        """The sentence opens its chunk, and the chunk opens inside a sentence of its document:
        quoted alone it may say the opposite ("Contributor be liable to You for damages" from
        "In no event ... shall any Contributor be liable")."""
        chunk = self.data.chunks[evidence.key]
        doc = self.data.documents.get(chunk.doc_id)
        if doc is None or chunk.start <= 0 or not chunk.text.lstrip().startswith(evidence.sentence[:20]):
            return False
        before = doc.text[:chunk.start]
        last = before.rstrip()[-1:]
        if not last or last in _SENTENCE_END:
            return False
        line = before.rstrip().rfind("\n") + 1          # a hard-wrapped line goes on past its break
        return not before.endswith("\n") or hard_wrapped(doc.text, (line, chunk.start), (chunk.start, chunk.end))

    def _wrong_value(self, text: str, evidence: Evidence, kind: str, q: Question) -> bool:
        """The answer's value is not the evidence sentence's, and no sentence of the chunks the
        model was given that states the answer's value fits the question about as well (two sentences
        that both answer it, like two dates of one release, are left to the model)."""
        if not mismatch(text, evidence, kind):
            return False
        given = values(text, kind)
        if not given:
            return True
        # Any chunk the model was given may hold the answer's value (in the full layout, all).
        given_chunks = [self._titled(p) for p in (q.context.given if q.context else [])]
        for value in given:
            holder = best_sentence(q.standalone or q.text, given_chunks, kind, self.glossary,
                                   holding=value)
            if holder is not None and holder.score >= evidence.score - 0.05:
                return False
        return True


def _says(evidence: Evidence, answer: str, glossary: dict) -> bool:
    """The answer holds enough of the evidence sentence's key terms, its numbers aside (an answer
    about the uses Google Cloud lists need not repeat the date of the same sentence)."""
    return rank_support(without_numbers(evidence.sentence), MARKER.sub(" ", answer), glossary) >= _STATED_SCORE


def _defines(evidence: Evidence, answer: str, question: str, glossary: dict) -> bool:
    """The answer holds enough of the key terms of what the defining sentence says after its verb
    ("the preferred form for making modifications, …"), numbers and the words of the term and the
    question in any form aside ("具体指软件源代码" says "source" and "form" again, not what they are;
    "entities" is the word of "Legal Entity"), and of its
    head, before the examples it goes on to ("…, including software source code, documentation
    source, and configuration files" lists kinds of the preferred form; an answer listing them alone
    leaves out what the term is)."""
    term, body = defined_term(evidence.sentence) or ("", evidence.sentence)
    asked = {stem(w.lower()) for w in re.findall(r"[A-Za-z]+", f"{term} {question}")}
    said = to_simplified(MARKER.sub(" ", answer))

    def holds(part: str) -> bool:
        words = " ".join(w for w in re.findall(r"[^\s,;.()]+", without_numbers(part)) if stem(w.lower()) not in asked)
        return not key_terms(words) or rank_support(words, said, glossary) >= _STATED_SCORE
    return holds(body) and holds(_EXAMPLES.split(body, 1)[0])


# Where a definition goes on from what the term is to examples or cases of it.
_EXAMPLES = re.compile(r",?\s+(?:including|such\s+as|for\s+example|e\.g\.)\b|[;:]|,?\s*包括|,?\s*例如|，?\s*比如", re.IGNORECASE)


def _in_language(text: str, q: Question) -> bool:
    """`text` (a second reply, or the evidence sentence to state) is in the asker's language,
    Chinese or not: the quoted sentence may be in the other one, and the model may copy it."""
    return detect_language(MARKER.sub("", text)).startswith("zh") == q.language.startswith("zh")


def repeats(answer: str, previous: str) -> bool:
    """The answer says what the previous answer said: its text, citation marks aside, is most of
    the previous answer ("不是。Gemma 4 …的替代品。" then "Gemma 4 …的替代品。"; not "31B" picked from
    a list of sizes), or mostly the same text with the same numbers ("Gemma 4 在 2026 年 4 月 2 日上线"
    after "… 3 月 31 日发布的" is a new answer in the same words)."""
    said, before = (normalize(MARKER.sub("", text)).strip(" 。.") for text in (answer, previous))
    if not said or not before:
        return False
    if said in before:
        return len(said) >= _REPEATED_PART * len(before)
    return re.findall(r"\d+", said) == re.findall(r"\d+", before) \
        and SequenceMatcher(None, said, before, autojunk=False).ratio() >= _REPEAT_RATIO


def _quotable(sentence: str) -> str:
    """An evidence sentence as the text of an answer: without its footnote marks, the section
    heading or list letter it opens with ("3. Grant of Patent License.", "(a)"), a linking word
    that tied it to the sentence before, or its closing punctuation; "…" where the chunk cut it off."""
    text = without_heading(FOOTNOTE_RUN.sub("", re.sub(r"\s*\n\s*", " ", sentence)).strip())
    text = _LEADING_LINK.sub("", _LIST_MARK.sub("", text))
    if re.search(r"[\w)\]]$", text) and not HAN.search(text[-1:]):
        return text + "…"
    return text.rstrip("。.;；,，:：")


def bare_yes_no(draft: str, q: Question) -> str | None:
    """The yes or no a draft consists of ("不是。"), also when the rest of it only repeats the
    question ("是的，你写的代码以后还能用。" after "现在写的代码以后还能用吗？"): right or wrong,
    such a draft states nothing the checker can back. None for any other draft."""
    m = _YES_NO.match(to_simplified(draft).strip())
    if m is None:
        return "" if _restated(draft, q) else None
    rest = _words(m.group(2))
    if rest and not _echoed(rest, q):
        return None
    head = m.group(1)
    return head if head[-1] in "。.!！" else head + ("。" if HAN.search(head) else ".")


# A yes-or-no question: one question ending in 吗 or asking "是否…", "有没有…" (Chinese), or opening with a
# verb (English), with no "what", "which" or "how" in it and no choice offered ("之前还是之后").
_ZH_YES_NO_Q = re.compile(r"[吗么]\s*[？?]?\s*$|是否|有没有|能不能|可不可以|会不会|要不要|是不是|算不算|需不需要")
_EN_YES_NO_Q = re.compile(r"^(?:[^,?]{1,40},\s*)?(?:is|are|was|were|does|do|did|can|could|may|might|must|will|would|should|"
                          r"shall|has|have|had)\b", re.IGNORECASE)     # also after an opening phrase ("In its conclusion, does …")
_ASKS_WHAT = re.compile(r"\b(?:what|which|who|whom|whose|when|where|why|how|whether)\b|什么|哪|怎么|怎样|如何|为什么|为何|"
                        r"多少|几|还是", re.IGNORECASE)
# The word a Chinese yes or no is said with, taken from the question ("需要付费吗？" -> 需要 / 不需要).
_ZH_VERBS = {"需要": "不需要", "必须": "不必", "可以": "不可以", "能够": "不能", "允许": "不允许", "能": "不能",
             "会": "不会", "算": "不算", "要": "不用", "有": "没有"}


def yes_no_question(question: str) -> bool:
    text = to_simplified(question).strip()
    if len(sentence_spans(text)) > 1 or _ASKS_WHAT.search(text):
        return False
    return bool(_ZH_YES_NO_Q.search(text) or _EN_YES_NO_Q.match(text))


def said_yes(answer: str, q: Question) -> bool | None:
    """True when the answer opens with a yes ("是的，…", "Yes, …") or only puts the question as a statement,
    False when it opens with a no ("不需要", "No, …"), None when it opens with neither."""
    plain = to_simplified(MARKER.sub("", answer)).strip()
    verb = re.match(r"(不?[\u4e00-\u9fff]{1,2})[。，,！!]", plain)
    if verb and verb.group(1) in _ZH_VERBS.values():
        return False                  # "不需要。", "没有，…"
    if verb and verb.group(1) in _ZH_VERBS:
        return True                   # "需要。", "可以，…"
    m = _YES_NO.match(plain)
    if m is None:
        return True if _restated(answer, q) else None
    return not re.match(r"(?:不|没|否|并|no\b|not\b)", m.group(1), re.IGNORECASE)


def judged_yes(reply: str) -> bool | None:
    """The one-word check's reply as a yes (True) or a no (False); None for anything else."""
    word = re.match(r"\W*([A-Za-z]+|[是否不对])", reply or "")
    if word is None:
        return None
    w = word.group(1).lower()
    return True if w in ("yes", "是", "对") else False if w in ("no", "否", "不") else None


def verdict_word(q: Question, yes: bool) -> str:
    """"Yes." / "No."; in Chinese the question's own verb ("需要。" / "不需要。"), else "是的。" / "不是。"."""
    if not q.language.startswith("zh"):
        return "Yes." if yes else "No."
    text = to_simplified(q.text)
    found = [(text.find(v), -len(v), v) for v in _ZH_VERBS if v in text]
    verb = min(found)[2] if found else None
    word = (verb if yes else _ZH_VERBS[verb]) if verb else ("是的" if yes else "不是")
    word += "。"
    return to_traditional(word) if q.language == "zh-Hant" else word


def negated_echo(draft: str, q: Question) -> bool:
    """The draft is the question's own words with a negation the question lacks ("The copyright
    license does not cost anything." after "Does the copyright license cost anything?"): a no that
    names nothing the passage says."""
    plain = to_simplified(MARKER.sub("", draft)).strip()
    said = _words(_NEGATION.sub("", plain))
    return bool(said) and bool(_negations(plain) - _negations(to_simplified(q.text))) \
        and len(sentence_spans(plain)) <= 1 and said <= _asked(q)


def _restated(draft: str, q: Question) -> bool:
    """The draft holds nothing but the question's own words, with no negation of its own: a yes-or-no
    question put as a statement ("The Work provided with any warranty." after "Is the Work provided with
    any warranty?"), the question asked back ("An entry point to what, exactly?"), or one of the choices
    it offers ("…是在發布紀錄上的日期之前。" after "…之前還是之後？"), or the lead-in of a list with no items
    after it, which nothing in it backs."""
    plain = to_simplified(MARKER.sub("", draft)).strip()
    said = _words(plain)
    if not said:
        return False
    if _negations(plain) - _negations(to_simplified(q.text)):
        return False                  # "... does not cost anything" answers "Does ... cost anything?"
    if plain.endswith(("?", "？", ":", "：")):
        # the question asked back in other words ("并不只是" for "不只是"), or put as the lead-in of a
        # list that never came ("…各自強調了 Gemma 4 的以下幾點：", the model looping on it)
        return _echoed(said, q)
    return said <= _asked(q)


def _negations(text: str) -> set[str]:
    return {m.group(0).lower() for m in _NEGATION.finditer(text)}


def _echoed(said: set[str], q: Question) -> bool:
    """Most of these words are the question's (with the question it follows)."""
    return len(said & _asked(q)) >= _ECHO_SHARE * len(said)


def _asked(q: Question) -> set[str]:
    """The question's words, with those of the question it follows."""
    return _words(q.text) | _words(q.standalone or "")


def _first_claim(answer: str) -> str:
    """An answer's first sentence, without its markers: what "who said that?" asks about."""
    plain = MARKER.sub(" ", answer).strip()
    spans = sentence_spans(plain)
    return plain[spans[0][0]:spans[0][1]].strip() if spans else plain


def _plain(text: str) -> str:
    """Text as compared word for word: footnotes and markers, case and spacing aside."""
    return re.sub(r"\s+", " ", normalize(FOOTNOTE_RUN.sub(" ", MARKER.sub(" ", text)))).strip(" 。.")


def _words(text: str) -> set[str]:
    """The key terms of a draft or a question, a name as users glue it ("gemma4") read as the answer
    writes it ("Gemma 4")."""
    return {singular(t) for t in key_terms(GLUED_NUMBER.sub(r"\1 \2", to_simplified(text)))}


# A draft that opens with a yes or a no, and what follows it.
_YES_NO = re.compile(r"^((?:是的?|不是|对|不对|否|没有|有|会|不会|可以|不可以|能|不能|并不是|并非|(?:yes|not really|no)\b)"
                     r"[。.!！]?)[，,、\s]*(.*?)[。.!！]?$", re.IGNORECASE | re.DOTALL)
_NEGATION = re.compile(r"\b(?:not|no|never|none|nothing|neither|nor|without|cannot)\b|n't|[不没无非未否别]")
# An echoed yes or no is replaced by a sentence holding this share of the question's own words.
_STATED_SCORE = SUPPORT_THRESHOLD
# ... and a yes or no is checked on a sentence holding this share: a Chinese question's words found in an English
# clause through the bridge score lower ("這份授權的版權授權需要付費嗎？" holds 0.27 of the copyright grant).
_JUDGED_SCORE = 0.25
_CLAIM_LENGTH = 20            # characters of the shortest sentence that states what a document said ("- Engadget": none)
_LISTED = re.compile(r"^\[\d+\]\s")     # "[10] Google releases Gemma 4, …": a source's title line, no claim
_QUOTED_CLAIM = 120           # characters of a sentence a credit answer quotes; a longer one is not quoted
_ECHO_SHARE = 0.7             # share of the rest's words taken from the question
_REPEAT_RATIO = 0.8           # an answer this much like the previous one repeats it
_REPEATED_PART = 0.5          # ... as does one inside it that is this share of it
_SENTENCE_END = ".。!?！？:：;；\"”'’)）"        # what ends the text before a chunk that opens a sentence
# The list letter or clause number a quoted sentence opens with: "(a) ", "4. ", "(iii) ".
_LIST_MARK = re.compile(r"^(?:\((?:[a-z]|[ivx]+|\d+)\)|\d+\.)\s+", re.IGNORECASE)
# A sentence quoted on its own loses the word that tied it to the one before ("但", "However,").
_LEADING_LINK = re.compile(r"^(?:但是|但|不过|然而|而且|而|因此|所以|(?:however|but|and|so|thus|therefore)\b,?)\s*",
                           re.IGNORECASE)
