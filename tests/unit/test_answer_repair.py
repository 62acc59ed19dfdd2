"""Issue 16's answer-type check with repair, through the real Assistant with a fake model: a
date from the wrong sentence is answered again with the right sentence quoted, an amount off
by a 万/亿 scale is rewritten in code, a bare yes/no gets its sentence, and nothing else changes."""
import pytest

from tests.fakes import FakeChatModel


class ScriptedLLM(FakeChatModel):
    """Answers `first`; answers `second` once the question turn quotes an evidence sentence."""
    name = "scripted"

    def __init__(self, first, second=None, verdict=""):
        super().__init__(first)
        self.second = second if second is not None else first
        self.verdict = verdict            # the reply to the one-word yes-or-no check
        self.prompts, self.checks = [], []

    def generate(self, prompt, max_tokens, stats):
        if prompt.endswith("Reply with one word: Yes or No."):
            self.checks.append(prompt)
            yield self.verdict
            return
        self.prompts.append(prompt)
        reply = self.second if ("「" in prompt.rsplit("\n", 2)[-1] or 'see [' in prompt.rsplit("\n", 1)[-1]) else self.reply
        for piece in reply.split(" "):
            stats.completion_tokens += 1
            yield piece + " "


NOTE = ("# Quokka kettle\n\nThe quokka kettle went on sale in early May 2026 in Perth. "
        "The first quokka kettle was released on March 3, 2026 by Quokka Labs. "
        "Quokka Labs has sold over 4 亿 kettles since the first model.\n")


@pytest.fixture
def make_assistant(note_assistant):
    return lambda first, second=None, **settings: note_assistant(NOTE, ScriptedLLM(first, second), **settings)


def test_a_date_from_another_sentence_is_answered_again_with_the_right_sentence(make_assistant):
    assistant = make_assistant("The first quokka kettle was released in early May 2026 [1].",
                               "The first quokka kettle was released on March 3, 2026 [1].")
    answer = assistant.ask("When was the first quokka kettle released?")
    assert not answer.refused and "March 3, 2026" in answer.answer
    assert len(assistant.llm.prompts) == 2 and "March 3, 2026" in assistant.llm.prompts[1].rsplit("\n", 1)[-1]


def test_a_right_date_is_not_asked_again(make_assistant):
    assistant = make_assistant("The first quokka kettle was released on March 3, 2026 [1].")
    answer = assistant.ask("When was the first quokka kettle released?")
    assert "March 3, 2026" in answer.answer and len(assistant.llm.prompts) == 1


def test_repair_off_keeps_the_first_answer(make_assistant):
    assistant = make_assistant("The first quokka kettle was released in early May 2026 [1].",
                               "The first quokka kettle was released on March 3, 2026 [1].", repair=False)
    answer = assistant.ask("When was the first quokka kettle released?")
    assert "early May" in answer.answer and len(assistant.llm.prompts) == 1


def test_an_amount_off_by_a_chinese_scale_is_rewritten_in_code(make_assistant):
    assistant = make_assistant("Quokka Labs has sold over 4 billion kettles [1].")
    answer = assistant.ask("How many kettles has Quokka Labs sold?")
    assert not answer.refused and "400 million" in answer.answer and "billion" not in answer.answer
    assert len(assistant.llm.prompts) == 1                 # no second generation needed


def test_a_refused_guess_stays_refused(make_assistant):
    assistant = make_assistant("Quokka Labs employs 300 engineers in Perth [1].")
    answer = assistant.ask("How many engineers does Quokka Labs employ?")
    assert answer.refused and len(assistant.llm.prompts) == 1


def test_a_bare_no_gets_the_sentence_that_says_so(make_assistant):
    assistant = make_assistant("No.")
    answer = assistant.ask("Was the first quokka kettle released by Quokka Labs in 2025?")
    assert not answer.refused and answer.answer.startswith("No.") and "March 3, 2026" in answer.answer
    assert answer.citations and "March 3, 2026" in answer.citations[0].text


def test_a_yes_that_only_repeats_the_question_gets_the_sentence(make_assistant):
    assistant = make_assistant("Yes, Quokka Labs did personally invent, design and build it by hand.")
    answer = assistant.ask("Did Quokka Labs personally invent, design and build the first kettle by hand?")
    assert not answer.refused and answer.answer.startswith("Yes. ") and "March 3, 2026" in answer.answer
    assert answer.citations and "March 3, 2026" in answer.citations[0].text


def test_an_echoed_yes_the_check_passes_is_answered_again_with_the_sentence(make_assistant):
    # "Yes" and the question's words: every word is in the chunk, so the check backs it, but
    # nothing in it says the passage agrees.
    assistant = make_assistant("Yes, the first quokka kettle was released by Quokka Labs.",
                               "Yes, Quokka Labs released it on March 3, 2026.")
    answer = assistant.ask("Was the first quokka kettle released by Quokka Labs?")
    assert len(assistant.llm.prompts) == 2 and "March 3, 2026" in assistant.llm.prompts[1].rsplit("\n", 1)[-1]
    assert not answer.refused and "March 3, 2026" in answer.answer


def test_an_echo_given_again_is_replaced_by_the_sentence(make_assistant):
    assistant = make_assistant("Yes, the first quokka kettle was released by Quokka Labs.")
    answer = assistant.ask("Was the first quokka kettle released by Quokka Labs?")
    assert len(assistant.llm.prompts) == 2 and not answer.refused
    assert answer.answer.startswith("The first quokka kettle was released on March 3, 2026 by Quokka Labs[1]")


def test_a_sentence_replaces_an_echo_only_when_it_holds_the_questions_own_words(make_assistant):
    # A follow-up's evidence is chosen with the question it follows; stated in place of an echo,
    # it must also hold the follow-up's own words.
    from rag.assemble import Question
    from rag.evidence import Evidence
    repair = make_assistant("")._repair()
    key = next(i for i, c in enumerate(repair.data.chunks) if "March 3, 2026" in c.text)
    released = Evidence(key, "The first quokka kettle was released on March 3, 2026 by Quokka Labs.", 0.8)
    joined = "When was the first quokka kettle released; Does that make it older than the Perth one?"
    follow_up = Question("Does that make it older than the Perth one?", "en", joined)
    assert repair._own_score(follow_up, released) < 0.34
    asked = Question("Was the first quokka kettle released by Quokka Labs?", "en", "")
    assert repair._own_score(asked, released) >= 0.34


def test_an_echo_stays_when_the_sentence_only_repeats_the_question_too(make_assistant):
    assistant = make_assistant("Yes, the first quokka kettle was released on March 3, 2026 by Quokka Labs.")
    answer = assistant.ask("Was the first quokka kettle released on March 3, 2026 by Quokka Labs?")
    assert len(assistant.llm.prompts) == 2
    assert answer.answer.startswith("Yes, the first quokka kettle was released on March 3, 2026 by Quokka Labs")


def test_a_no_in_the_questions_own_words_is_followed_by_the_sentence(make_assistant):
    assistant = make_assistant("The quokka kettle did not go on sale outside Perth[1].")
    answer = assistant.ask("Did the quokka kettle go on sale outside Perth?")
    assert len(assistant.llm.prompts) == 1 and not answer.refused
    assert answer.answer == ("The quokka kettle did not go on sale outside Perth[1].\n\n"
                             "In the document's words: “The quokka kettle went on sale in early May 2026 in Perth”[1].")


def test_a_no_with_a_claim_of_its_own_is_kept_as_it_is(make_assistant):
    assistant = make_assistant("The quokka kettle did not go on sale outside Perth; it sold in early May[1].")
    answer = assistant.ask("Did the quokka kettle go on sale outside Perth?")
    assert answer.answer == "The quokka kettle did not go on sale outside Perth; it sold in early May[1]."


def test_negated_echo_is_a_no_in_the_questions_words():
    from rag.assemble import Question
    from rag.repair import negated_echo

    def said(draft, question):
        return negated_echo(draft, Question(question, "en", question))
    assert said("The license does not cost anything[1].", "Does the license cost anything?")
    assert said("这个许可证没有专利授权[1]。", "这个许可证有专利授权吗？")
    assert not said("The license does not cost anything; it is royalty-free[1].", "Does the license cost anything?")
    assert not said("The license costs nothing at all.", "Does the license cost nothing at all?")   # no negation of its own
    assert not said("No.", "Does the license cost anything?")                                     # a bare no: repaired elsewhere
    assert not said("It is not. The license costs nothing.", "Does the license cost anything?")   # two sentences


def test_a_sentence_a_chunk_cut_in_two_is_not_stated(make_assistant):
    # "Contributor be liable to You for damages" is the end of "In no event ... shall any
    # Contributor be liable": quoted alone it says the opposite.
    from rag.evidence import Evidence
    repair = make_assistant("")._repair()
    data = repair.data

    def opening(i):
        return Evidence(i, data.chunks[i].text.lstrip()[:60], 1.0)
    inside = [i for i, c in enumerate(data.chunks) if c.start > 0
              and data.documents[c.doc_id].text[:c.start].rstrip()[-1:].isalpha()
              and not data.documents[c.doc_id].text[:c.start].endswith("\n")]
    assert inside and all(repair._cut_at_start(opening(i)) for i in inside)
    firsts = [i for i, c in enumerate(data.chunks) if c.start == 0]
    assert firsts and not any(repair._cut_at_start(opening(i)) for i in firsts)


def test_a_sentence_a_hard_wrap_and_a_chunk_cut_in_two_is_not_stated():
    # a plain-text licence wraps mid-sentence: a chunk opening on "sure that …" is inside "… to make"
    from types import SimpleNamespace
    from rag.evidence import Evidence
    from rag.repair import Repair
    from rag.types import Chunk, Document
    text = "Every kettle of the quokka line is sold so that we can make\nsure that it boils.\nThe lid is tin.\n"
    inside, after = text.index("sure that"), text.index("The lid")
    doc = Document("terms", "Kettle terms", text)
    chunks = [Chunk("terms:1", "terms", text[inside:after], inside, after),
              Chunk("terms:2", "terms", text[after:], after, len(text))]
    repair = Repair(SimpleNamespace(chunks=chunks, documents={"terms": doc}), {}, None, None, None)
    assert repair._cut_at_start(Evidence(0, "sure that it boils.", 1.0))
    assert not repair._cut_at_start(Evidence(1, "The lid is tin.", 1.0))


def test_a_yes_no_question_put_as_a_statement_is_answered_again(make_assistant):
    # No "yes" at all: the question's words in the order of a statement.
    assistant = make_assistant("The first quokka kettle was released by Quokka Labs.",
                               "Yes, Quokka Labs released it on March 3, 2026.")
    answer = assistant.ask("Was the first quokka kettle released by Quokka Labs?")
    assert len(assistant.llm.prompts) == 2 and "March 3, 2026" in answer.answer


def test_a_yes_with_a_claim_of_its_own_is_not_asked_again(make_assistant):
    assistant = make_assistant("Yes, Quokka Labs released it on March 3, 2026.")
    answer = assistant.ask("Was the first quokka kettle released by Quokka Labs?")
    assert len(assistant.llm.prompts) == 1 and "March 3, 2026" in answer.answer


def test_a_quoted_sentence_loses_its_heading_list_letter_and_closing_mark():
    from rag.repair import _quotable
    assert _quotable("3. Grant of Patent License. Subject to the terms, each Contributor grants a patent "
                     "license to") == "Subject to the terms, each Contributor grants a patent license to…"
    assert _quotable("(a) You must give any other recipients a copy of this License;") == \
        "You must give any other recipients a copy of this License"
    assert _quotable("但 Gemma 4 是开放的。") == "Gemma 4 是开放的"
    # a definition wrapped over lines, its number and term on the first, reads as one line
    assert _quotable('1.3. "Spout"\n    means the copper opening\n    of the Kettle.') == \
        '"Spout" means the copper opening of the Kettle'


def test_the_quoted_evidence_in_the_question_turn_is_one_line():
    from rag import prompt as P
    turn = P.user_turn("What does 'Spout' mean?", "en", evidence=(2, '"Spout"\n    means the copper opening.'))
    assert '[2]: ""Spout" means the copper opening."' in turn


def test_bare_yes_no_tells_an_echo_from_a_claim():
    from rag.assemble import Question
    from rag.repair import bare_yes_no

    def asked(draft, question):
        return bare_yes_no(draft, Question(question, "zh-Hans", question))
    assert asked("不是。", "它会取代 Gemini 吗？") == "不是。"
    assert asked("是的，你写的代码以后还能用。", "现在写的代码以后还能用吗？") == "是的。"
    assert asked("No, it will not replace Gemini.", "Will it replace Gemini?") == "No."
    assert asked("是的，Gemma 4 支持 256K 上下文。", "Gemma 4 能处理长文档吗？") is None    # a claim of its own
    assert asked("有 140 种语言。", "支持多少种语言？") is None
    assert asked("Nothing was said.", "Was anything said?") is None                # "no" is a whole word
    assert asked("Yes, the license allows you to use the Licensor's trademarks[1].",      # spelling, plural
                 "Does the licence let me use the Licensor's trademark?") == "Yes."
    # a yes-or-no question put as a statement is an echo; one with a negation of its own answers it
    assert asked("The Work provided with any warranty[1].", "Is the Work provided with any warranty?") == ""
    assert asked("这个许可证有专利授权[1]。", "这个许可证有专利授权吗？") == ""
    assert asked("The license does not cost anything[1].", "Does the license cost anything?") is None
    assert asked("这个许可证没有专利授权[1]。", "这个许可证有专利授权吗？") is None
    assert asked("Gemma 4 is released under Apache 2.0[1].", "What license is Gemma 4 released under?") is None
    # any question asked back, or answered with one of its own choices, is an echo too
    assert asked("An entry point to what, exactly[2]?", "An entry point for developers. An entry point to what, exactly?") == ""
    assert asked("介绍是在发布记录的日期之前[1]。", "介绍是在发布记录的日期之前还是之后？") == ""
    assert asked("文章说 Google 并不只是让人下载模型，那企业可以拿它来做什么[1]？",
                 "文章说 Google 不只是让人下载模型，那企业可以拿它来做什么？") == ""   # asked back in other words
    assert asked("介绍是在发布记录的日期之后，4 月初[1]。", "介绍是在发布记录的日期之前还是之后？") is None
    # the lead-in of a list that never came is an echo; one with its items is not
    assert asked("Kettle 周报跟 Brew 日报的标题，各自强调了 Kettle 3 的以下几点：[1]",
                 "Kettle 周报跟 Brew 日报的标题，各自强调了 Kettle 3 的哪一点？") == ""
    assert asked("The kettle reviews stress these points of the Kettle 3:", "What do the kettle reviews stress about the Kettle 3?") == ""
    assert asked("Kettle 周报强调了以下几点：铜制壶嘴、三秒烧开[1]。",
                 "Kettle 周报跟 Brew 日报的标题，各自强调了 Kettle 3 的哪一点？") is None
    # a name glued as users type it is the name the answer writes apart
    assert asked("Yes, you can run Kettle 3 on your laptop.", "can i run kettle3 on my laptop?") == "Yes."
    assert asked("是的，Kettle 3 跟高通合作。", "kettle3 有没有跟高通合作？") == "是的。"


TEMPLATED = ("The quokka kettle is sold in these cities: \n"
             "1. **Perth**: the quokka kettle is sold in Perth shops to many happy buyers [1]. \n"
             "2. **Sydney**: the quokka kettle is also sold in Sydney shops to many happy buyers [1]. \n"
             "3. **Hobart**: the quokka kettle is also sold in Hobart shops to many happy buyers [1]. \n"
             "4. **Darwin**: the quokka kettle is also sold in Darwin shops to many happy buyers [1]. \n"
             "5. **Cairns**: the quokka kettle is also sold in Cairns shops to many happy buyers [1].")


def test_a_list_made_from_one_template_is_stopped_and_answered_again(make_assistant):
    assistant = make_assistant(TEMPLATED, "The quokka kettle went on sale in Perth in early May 2026 [1].")
    answer = assistant.ask("Where did the quokka kettle go on sale?")
    assert len(assistant.llm.prompts) == 2 and "early May 2026 in Perth" in assistant.llm.prompts[1].rsplit("\n", 1)[-1]
    assert not answer.refused and answer.answer.startswith("The quokka kettle went on sale in Perth")


def test_a_template_given_again_is_replaced_by_the_sentence(make_assistant):
    assistant = make_assistant(TEMPLATED)
    answer = assistant.ask("Where did the quokka kettle go on sale?")
    assert len(assistant.llm.prompts) == 2 and not answer.refused
    assert answer.answer.startswith("The quokka kettle went on sale in early May 2026 in Perth[1]")
    assert "Darwin" not in answer.answer


def test_a_follow_up_given_the_previous_answer_again_is_answered_again_without_the_history(make_assistant):
    from rag.chat import Turn
    before = "The first quokka kettle was released on March 3, 2026 by Quokka Labs [1]."
    assistant = make_assistant(before, "It went on sale in Perth in early May 2026 [1].")
    history = [Turn("Who released the first quokka kettle?", before, "Who released the first quokka kettle?")]
    answer = assistant.ask("Where did it go on sale?", history)
    assert len(assistant.llm.prompts) == 2 and "early May 2026 in Perth" in assistant.llm.prompts[1]
    assert "Who released the first quokka kettle?" in assistant.llm.prompts[0]
    assert "Who released the first quokka kettle?" not in assistant.llm.prompts[1]       # no history to copy
    assert not answer.refused and answer.answer.startswith("It went on sale in Perth")


def test_a_follow_up_with_an_answer_of_its_own_is_not_asked_again(make_assistant):
    from rag.chat import Turn
    before = "The first quokka kettle was released on March 3, 2026 by Quokka Labs [1]."
    assistant = make_assistant("It went on sale in Perth in early May 2026 [1].")
    history = [Turn("Who released the first quokka kettle?", before, "Who released the first quokka kettle?")]
    answer = assistant.ask("Where did it go on sale?", history)
    assert len(assistant.llm.prompts) == 1 and "Perth" in answer.answer


def test_a_refusal_said_again_is_not_asked_again(make_assistant):
    from rag.chat import Turn
    from rag.prompt import refusal_text
    refused = refusal_text("en")
    assistant = make_assistant(refused.replace(".", " [1].", 1))
    history = [Turn("Who sells the quokka kettle?", refused, "Who sells the quokka kettle?")]
    answer = assistant.ask("And who released the first quokka kettle?", history)
    assert len(assistant.llm.prompts) == 1 and answer.answer.startswith("Sorry")


def test_says_no_answer_knows_the_refusal_message_in_every_wording():
    from rag.prompt import refusal_text
    from rag.prompt import says_no_answer
    assert all(says_no_answer(refusal_text(lang, added)) for lang in ("en", "zh-Hans", "zh-Hant") for added in (0, 1))
    assert says_no_answer("抱歉，檔案中沒有找到能回答這個問題的內容[1]。我只能回答與Gemma 4 文章相關的問題[2]。")
    assert not says_no_answer("Gemma 4 是下一代 Gemini Nano 的基础[1]。")


def test_repeats_tells_a_copied_answer_from_a_new_one():
    from rag.repair import repeats
    before = "不是。Gemma 4 是基于 Gemini 3 的研究基础上，但不是 Gemini 的替代品[1]。"
    assert repeats("Gemma 4 是基于 Gemini 3 的研究基础上，但不是 Gemini 的替代品[1]。", before)   # inside it
    assert repeats("Google 支援開源社群已經超過20年[2]。", "Google 支援開源社群已經超過 20 年[1]。")
    assert not repeats("Google 表示 Gemma 4 是下一代 Gemini Nano 的基础[1]。", before)
    assert not repeats("是的[1]。", "")
    assert not repeats("31B[1]。", "Gemma 4 有 E2B、E4B、31B 和 26B A4B 四种尺寸[1]。")      # one item picked from it
    assert not repeats("Gemma 4 在 2026 年 4 月 2 日上线[1]。", "Gemma 4 是在 2026 年 3 月 31 日发布的[1]。")


CHINESE_NOTE = "# 袋鼠水壶\n\n第一款袋鼠水壶由 Quokka Labs 于 2026 年 3 月 3 日发布。\n"


def test_a_second_reply_in_the_other_language_is_not_the_answer(note_assistant):
    assistant = note_assistant(CHINESE_NOTE, ScriptedLLM("是的。", "Yes, Quokka Labs released the first kettle [1]."))
    answer = assistant.ask("第一款袋鼠水壶是 Quokka Labs 发布的吗？")
    assert "released" not in answer.answer and len(assistant.llm.prompts) == 2


def test_a_second_reply_in_the_askers_language_is_the_answer(note_assistant):
    assistant = note_assistant(CHINESE_NOTE, ScriptedLLM("是的。", "是的，第一款袋鼠水壶由 Quokka Labs 发布[1]。"))
    answer = assistant.ask("第一款袋鼠水壶是 Quokka Labs 发布的吗？")
    assert not answer.refused and "由 Quokka Labs 发布" in answer.answer and len(assistant.llm.prompts) == 2


def test_a_source_question_answered_without_a_name_gets_the_document_named_in_code(make_assistant):
    assistant = make_assistant("The passage says so [1].")
    answer = assistant.ask("Which source says the first quokka kettle was released by Quokka Labs?")
    note = next(d for d in assistant.data.documents.values() if d.kind == "note")
    assert not answer.refused and answer.answer.startswith("In the documents, this comes from")
    assert f'"{note.title}"' in answer.answer and answer.answer.endswith("[1].")
    assert [c.doc_id for c in answer.citations] == [note.doc_id]
    assert "Quokka Labs" in answer.citations[0].text and len(assistant.llm.prompts) == 1


def test_a_source_question_answered_with_a_documents_name_keeps_the_answer(make_assistant):
    assistant = make_assistant("Quokka kettle says Quokka Labs released the first quokka kettle on March 3, 2026 [1].")
    answer = assistant.ask("Which source says the first quokka kettle was released by Quokka Labs?")
    assert answer.answer.startswith("Quokka kettle says") and len(assistant.llm.prompts) == 1


def test_a_source_question_answered_with_another_documents_name_gets_the_right_one_named_in_code(make_assistant):
    assistant = make_assistant("Engadget says Quokka Labs released the first quokka kettle on March 3, 2026 [1].")
    answer = assistant.ask("Which document says the first quokka kettle was released by Quokka Labs?")
    note = next(d for d in assistant.data.documents.values() if d.kind == "note")
    assert answer.answer.startswith("In the documents, this comes from") and f'"{note.title}"' in answer.answer
    assert "Engadget" not in answer.answer and [c.doc_id for c in answer.citations] == [note.doc_id]


def test_a_question_not_asking_for_a_source_gets_no_credit_answer(make_assistant):
    assistant = make_assistant("The first quokka kettle was released by Quokka Labs [1].")
    answer = assistant.ask("Who released the first quokka kettle?")
    assert answer.answer.startswith("The first quokka kettle was released by Quokka Labs")


GAZETTE = ("# Kettle Gazette\n\nKettle Gazette reports that the quokka kettle boils a full litre of water in forty seconds. "
           "The reviewers liked its copper spout.\n")


class QuotingLLM(ScriptedLLM):
    """ScriptedLLM whose second reply cites the passage the question turn quotes ("see [n]"), and
    whose first reply "{other}" is the first sentence of the first passage of another document
    than Kettle Gazette, cited."""

    QUOTED = r"see \[(\d+)\]"          # how the question turn quotes its sentence

    def generate(self, prompt, max_tokens, stats):
        import re
        quoted = re.search(self.QUOTED, prompt.rsplit("\n", 1)[-1])
        if quoted:
            self.prompts.append(prompt)
            yield self.second.replace("{n}", quoted.group(1))
            return
        if self.reply.startswith("{other}"):
            self.prompts.append(prompt)
            gazette = re.search(r"^\[(\d+)\] (?:# )?Kettle Gazette", prompt, re.MULTILINE)
            for block in prompt.split("\n## ")[1:]:
                passage = re.search(r"^\[(\d+)\] (.+)$", block, re.MULTILINE)
                if not block.startswith("Kettle Gazette") and passage:
                    sentence = re.split(r"(?<=[。.])\s*", passage.group(2).strip())[0].rstrip("。.")
                    yield f"{sentence}[{passage.group(1)}]。"
                    if self.reply.endswith("{gazette}") and gazette:
                        yield f" The reviewers liked its copper spout[{gazette.group(1)}]."
                    return
        yield from super().generate(prompt, max_tokens, stats)


def test_what_a_document_said_answered_from_another_passage_is_answered_again_with_its_sentence(note_assistant):
    llm = QuotingLLM("{other}", "Kettle Gazette reports the quokka kettle boils a full litre of water in forty seconds [{n}].")
    assistant = note_assistant(GAZETTE, llm)
    answer = assistant.ask("What does Kettle Gazette say about how fast the quokka kettle boils water?")
    note = next(d for d in assistant.data.documents.values() if d.kind == "note")
    assert len(llm.prompts) == 2 and "forty seconds" in llm.prompts[1].rsplit("\n", 1)[-1]
    assert not answer.refused and "forty seconds" in answer.answer
    assert [c.doc_id for c in answer.citations] == [note.doc_id]


def test_a_second_reply_that_does_not_say_what_the_sentence_says_is_not_taken(note_assistant):
    llm = QuotingLLM("{other}", "Kettle Gazette likes copper spouts [{n}].")
    assistant = note_assistant(GAZETTE, llm)
    answer = assistant.ask("What does Kettle Gazette say about how fast the quokka kettle boils water?")
    assert len(llm.prompts) == 2 and not answer.refused and "Kettle Gazette" not in answer.answer
    assert "copper" not in answer.answer


def test_an_answer_citing_another_passage_beside_the_documents_own_is_answered_again(note_assistant):
    llm = QuotingLLM("{other} {gazette}", "Kettle Gazette reports the quokka kettle boils a full litre of water in forty seconds [{n}].")
    assistant = note_assistant(GAZETTE, llm)
    answer = assistant.ask("What does Kettle Gazette say about how fast the quokka kettle boils water?")
    assert len(llm.prompts) == 2 and "forty seconds" in answer.answer


def test_another_claim_of_the_documents_own_passage_is_kept(note_assistant):
    llm = QuotingLLM("The reviewers liked its copper spout [1].", "unused [{n}].")
    assistant = note_assistant(GAZETTE, llm)
    answer = assistant.ask("What does Kettle Gazette say about how fast the quokka kettle boils water?")
    assert len(llm.prompts) == 1 and "copper spout" in answer.answer


def test_what_a_document_said_answered_from_its_own_passage_is_kept(note_assistant):
    llm = QuotingLLM("Kettle Gazette reports that the quokka kettle boils a full litre of water in forty seconds [1].",
                     "unused [{n}].")
    assistant = note_assistant(GAZETTE, llm)
    answer = assistant.ask("What does Kettle Gazette say about how fast the quokka kettle boils water?")
    assert len(llm.prompts) == 1 and "forty seconds" in answer.answer


def test_what_a_document_said_answered_with_a_draft_nothing_backs_is_answered_again(note_assistant):
    """A draft no passage backs is refused; asked what a document said, the model is asked again with
    that document's sentence (dev en-17: "cited Apache License, Version 2.0 (apache.org)" was refused
    once names were checked, and the second reply had named the technologies)."""
    llm = QuotingLLM("Kettle Gazette praised the Zebra Toaster from Wombat Works [1].",
                     "Kettle Gazette reports the quokka kettle boils a full litre of water in forty seconds [{n}].")
    assistant = note_assistant(GAZETTE, llm)
    answer = assistant.ask("What does Kettle Gazette say about how fast the quokka kettle boils water?")
    assert len(llm.prompts) == 2 and not answer.refused and "forty seconds" in answer.answer


def test_an_answer_says_what_a_sentence_says_whatever_numbers_it_leaves_out():
    from rag.evidence import Evidence
    from rag.repair import _says
    sentence = Evidence(0, "On 2 April 2026 Quokka Cloud listed complex logic and offline code generation as its main uses.", 0.5)
    assert _says(sentence, "Quokka Cloud lists complex logic and offline code generation [1].", {})
    assert not _says(sentence, "Quokka Cloud is a cloud [1].", {})


class QuotingChineseLLM(QuotingLLM):
    """QuotingLLM for a Chinese question turn, which quotes its sentence as "参考[n]：「…」"."""
    QUOTED = r"参考\[(\d+)\]：「"


GAZETTE_ZH = ("# Kettle Gazette\n\n袋鼠水壶烧水速度很快。\n\n"
              "[2] Kettle Gazette 袋鼠水壶烧水速度评测\n\n"
              "Kettle Gazette 报道，袋鼠水壶四十秒就能烧开一升水，烧水速度在同类产品里最快。\n")


def test_what_a_document_said_is_quoted_from_a_claim_not_a_short_line_or_a_title_line(note_assistant):
    # The short line and the "[2] …" title line hold the question's words as well as the claim does:
    # quoted, they state nothing the document said (_CLAIM_LENGTH, _LISTED).
    llm = QuotingChineseLLM("{other}", "Kettle Gazette 报道袋鼠水壶四十秒就能烧开一升水[{n}]。")
    assistant = note_assistant(GAZETTE_ZH, llm)
    answer = assistant.ask("Kettle Gazette 是怎么描述袋鼠水壶烧水速度的？")
    assert len(llm.prompts) == 2, llm.prompts
    quoted = llm.prompts[1].rsplit("\n", 1)[-1]
    assert "四十秒" in quoted and "评测" not in quoted
    assert not answer.refused and "四十秒" in answer.answer


LONG_CLAIM = ("第一款袋鼠水壶由 Quokka Labs 于 2026 年 3 月 3 日在珀斯发布，" + "它配有铜制壶嘴、双层隔热壶身、"
              "可拆卸滤网、六档温控、保温四小时的功能、夜间柔光指示灯、防干烧断电保护、一键除垢程序、"
              "可折叠提手、可选的木质底座、蓝牙连接和手机应用、以及长达五年的整机保修服务和免费上门维修。")


@pytest.mark.parametrize("claim,quoted", [("第一款袋鼠水壶由 Quokka Labs 于 2026 年 3 月 3 日发布。", True),
                                          (LONG_CLAIM, False)])
def test_a_credit_answer_quotes_the_claim_only_when_it_is_short(note_assistant, claim, quoted):
    assistant = note_assistant("# 袋鼠水壶\n\n" + claim + "\n", ScriptedLLM("出自文章[1]。"))
    answer = assistant.ask("第一款袋鼠水壶由 Quokka Labs 发布这个说法出自哪个来源？")
    assert not answer.refused and answer.answer.startswith("文档中")
    assert ("“" in answer.answer) is quoted and ("保修" in answer.answer) is False


TERMS = ('# Quokka kettle terms\n\n"Spout" shall mean the copper opening through which boiled water is poured.\n\n'
         '"Lid" shall mean the hinged cover on top of the quokka kettle.\n')


def test_a_term_answered_without_its_definition_is_answered_again_with_the_defining_sentence(note_assistant):
    llm = ScriptedLLM("The Spout is a part of the quokka kettle [1].", "The Spout is the copper opening through which boiled water is poured [1].")
    answer = note_assistant(TERMS, llm).ask("What does 'Spout' mean in the quokka kettle terms?")
    assert len(llm.prompts) == 2 and 'shall mean the copper opening' in llm.prompts[1].rsplit("\n", 1)[-1]
    assert not answer.refused and answer.answer.startswith("The Spout is the copper opening")


def test_a_term_answered_with_its_definition_is_not_asked_again(note_assistant):
    llm = ScriptedLLM("The Spout is the copper opening through which boiled water is poured [1].", "unused [1].")
    answer = note_assistant(TERMS, llm).ask("What does 'Spout' mean in the quokka kettle terms?")
    assert len(llm.prompts) == 1 and "copper opening" in answer.answer


def test_a_term_the_model_twice_leaves_undefined_gets_the_defining_sentence(note_assistant):
    # the second reply repeats the term's own words ("spout", "quokka kettle"): that defines nothing
    llm = ScriptedLLM("The Spout is a part of the quokka kettle [1].", "The Spout is the spout of the quokka kettle [1].")
    answer = note_assistant(TERMS, llm).ask("What does 'Spout' mean in the quokka kettle terms?")
    assert len(llm.prompts) == 2 and not answer.refused
    assert answer.answer.startswith('"Spout" shall mean the copper opening through which boiled water is poured')


def test_an_answer_defines_a_term_only_with_words_beyond_the_term_and_the_question():
    from rag.evidence import Evidence
    from rag.repair import _defines
    sentence = Evidence(0, '"Source" form shall mean the preferred form for making modifications, including software '
                           'source code and configuration files.', 1.0)
    question = "What does Source form mean?"
    assert not _defines(sentence, "Source form means software source code [1].", question, {})
    assert _defines(sentence, "Source form is the preferred form for making modifications, such as source code [1].",
                    question, {})
    # the term's own words in another form ("kettles" of "Kettle Makers") define nothing
    makers = Evidence(0, '"Kettle Makers" shall mean the makers of kettles and their workshops.', 1.0)
    assert not _defines(makers, "Kettle Makers are people who make kettles [1].", "Who are the Kettle Makers?", {})
    assert _defines(makers, "Kettle Makers are the kettle workshops [1].", "Who are the Kettle Makers?", {})
    # the examples the definition goes on to, without what the term is
    assert not _defines(sentence, "Source form means software source code and configuration files [1].", question, {})


def test_a_refusal_names_the_documents_the_user_added(make_assistant):
    from rag.prompt import refusal_text
    answer = make_assistant("unused [1].").ask("What does the Zorblax 9 licence say about kettles?")
    assert answer.refused and answer.answer == refusal_text("en", added=True) != refusal_text("en")
    assert "documents you added" in answer.answer
    assert "你添加的文档" in refusal_text("zh-Hans", added=True) and "你新增的文件" in refusal_text("zh-Hant", added=True)


def test_an_added_documents_file_name_counts_as_part_of_its_title_for_the_evidence_sentence():
    # "GPL version 2" names GPL-2.txt, whose title says neither; the other document's sentence says "program".
    from types import SimpleNamespace
    from rag.assemble import Question
    from rag.repair import Repair
    from rag.types import Chunk, Document, Hit
    kettle = "You may charge a fee for the physical act of transferring a copy."
    other = "Copyright notice for a program copy."
    docs = {"gpl": Document("gpl", "KETTLE PUBLIC LICENSE", kettle, kind="note", origin="/home/u/GPL-2.txt"),
            "apl": Document("apl", "Other License", other, kind="note", origin="/home/u/other.txt")}
    chunks = [Chunk("apl:1", "apl", other, 0, len(other)), Chunk("gpl:1", "gpl", kettle, 0, len(kettle))]
    data = SimpleNamespace(chunks=chunks, documents=docs, position=lambda cid: [c.chunk_id for c in chunks].index(cid))
    hits = [Hit(c.chunk_id, c.doc_id, docs[c.doc_id].title, None, c.text, c.start, c.end, 1.0) for c in chunks]
    question = "Am I allowed to charge money when I give someone a copy of a program licensed under GPL version 2?"
    found = Repair(data, {}, None, None, None).evidence_for(Question(question, "en", question, hits=hits))
    assert found.key == 1 and found.sentence == kettle
    # A file name the title already holds is not added again; a shipped document's file is no name.
    assert Repair(data, {}, None, None, None)._titled(1)[2] == "KETTLE PUBLIC LICENSE (GPL-2)"
    docs["gpl"].title = "The GPL-2 text"
    assert Repair(data, {}, None, None, None)._titled(1)[2] == "The GPL-2 text"
    docs["gpl"].kind = "source"
    docs["gpl"].title = "KETTLE PUBLIC LICENSE"
    assert Repair(data, {}, None, None, None)._titled(1)[2] == "KETTLE PUBLIC LICENSE"


def test_an_english_sentence_is_quoted_to_a_chinese_asker_after_a_bare_yes_the_model_will_not_expand(make_assistant):
    assistant = make_assistant("是的。", "Yes, Quokka Labs released the first quokka kettle [1].")
    answer = assistant.ask("第一个 quokka kettle 是 Quokka Labs 在 March 3, 2026 发布的吗？")
    assert not answer.refused and len(assistant.llm.prompts) == 2
    assert answer.answer.startswith("是的。原文：“The first quokka kettle was released on March 3, 2026 by Quokka Labs”[1]")
    assert "March 3, 2026" in answer.citations[0].text


def test_an_answer_shows_a_list_item_once(make_assistant):
    reply = ("The quokka kettle facts: \n1. It went on sale in early May 2026 in Perth [1]. \n"
             "2. Quokka Labs has sold over 4 亿 kettles [1]. \n3. It went on sale in early May 2026 in Perth [1].")
    answer = make_assistant(reply).ask("Where and when did the quokka kettle go on sale?")
    assert answer.answer.count("went on sale") == 1 and "\n3." not in answer.answer


def test_a_sentence_two_documents_hold_word_for_word_credits_both():
    """Two sources quoting one announcement both said it: a source question names them both
    (fresh3: only the forum was named for "an unprecedented level of intelligence-per-parameter")."""
    from types import SimpleNamespace
    from rag.evidence import Evidence
    from rag.repair import Repair
    from rag.types import Chunk, Document
    said = "The kettle delivers an unprecedented level of warmth-per-watt."
    texts = {"forum": f"Launch post. {said}", "blog": f"Apr 02 ... {said[:-1]} and more.", "other": "It is blue."}
    documents = {d: Document(d, d.title(), t) for d, t in texts.items()}
    chunks = [Chunk(f"{d}-0", d, t, 0, len(t)) for d, t in texts.items()]
    repair = Repair(SimpleNamespace(chunks=chunks, documents=documents), {}, None, None, None)
    assert repair._also_saying(Evidence(0, said, 1.0)) == ["blog"]
    assert repair._also_saying(Evidence(2, "It is blue.", 1.0)) == []            # too short to tell


def test_who_said_that_after_an_answer_names_the_source_of_that_answer(note_assistant):
    """A follow-up asking the source of the previous answer ("And who said that?", "这个说法出自哪些来源？")
    has no claim of its own, and the question before it may hold none either: it is asked of the
    previous answer's first sentence."""
    from rag.chat import Turn
    assistant = note_assistant(GAZETTE, ScriptedLLM("The passage says so [1]."))
    note = next(d for d in assistant.data.documents.values() if d.kind == "note")
    before = Turn("Tell me something surprising.", "The quokka kettle boils a full litre of water in forty seconds [1].",
                  "Tell me something surprising.")
    answer = assistant.ask("And who said that?", history=[before])
    assert answer.answer.startswith("In the documents, this comes from") and f'"{note.title}"' in answer.answer


REVIEW = ("# 袋鼠水壶评测\n\n## 设计\n\n袋鼠水壶配有铜制壶嘴和双层隔热壶身，烧开一升水只要四十秒。\n\n"
          "## 结论\n\n商业层面，袋鼠水壶降低了购买门槛，社区扩大了试用面，门店承接售后需求。\n")


def test_a_question_quoting_the_documents_answered_from_elsewhere_is_answered_from_the_quoted_words(note_assistant):
    llm = ScriptedLLM("袋鼠水壶配有铜制壶嘴和双层隔热壶身。", "商业层面，袋鼠水壶降低了购买门槛，门店承接售后需求。")
    answer = note_assistant(REVIEW, llm).ask("评测结论在「商業層面」列了哪几件事？")
    assert len(llm.prompts) == 2 and "降低了购买门槛" in llm.prompts[1].rsplit("\n", 1)[-1]
    assert not answer.refused and "购买门槛" in answer.answer and "商业层面" in answer.citations[0].text


def test_a_question_quoting_the_documents_answered_from_them_is_not_asked_again(note_assistant):
    llm = ScriptedLLM("商业层面，袋鼠水壶降低了购买门槛。", "unused[1]。")
    answer = note_assistant(REVIEW, llm).ask("评测结论在“商业层面”列了哪几件事？")
    assert len(llm.prompts) == 1 and "购买门槛" in answer.answer


def test_a_second_reply_that_leaves_the_quoted_words_again_gives_way_to_their_sentence(note_assistant):
    llm = ScriptedLLM("袋鼠水壶配有铜制壶嘴和双层隔热壶身。", "袋鼠水壶烧开一升水只要四十秒。")
    answer = note_assistant(REVIEW, llm).ask("袋鼠水壶评测结论在「商业层面」列了哪几件事？")
    assert len(llm.prompts) == 2 and "四十秒" not in answer.answer and "铜制壶嘴" not in answer.answer
    assert answer.answer.startswith("商业层面，袋鼠水壶降低了购买门槛，社区扩大了试用面") and answer.citations


# The yes-or-no check (Repair._judged): the model asked once more, on the evidence sentence alone.
WARRANTY = ("# 袋鼠水壶保修\n\n袋鼠水壶的保修服务不收取任何费用，保修期为五年。\n\n袋鼠水壶的上门维修需要另外收钱。\n\n"
            "The quokka kettle warranty service costs no money and covers the copper spout and the lid.\n\n"
            "The quokka kettle home repair is paid.\n")


@pytest.mark.parametrize("first, verdict, question, expected", [
    ("是的，袋鼠水壶的上门维修需要另外收钱。", "No", "袋鼠水壶的保修服务需要付费吗？", "不需要。袋鼠水壶的保修服务不收取任何费用"),
    ("是的，袋鼠水壶的上门维修需要另外收钱。", "Yes", "袋鼠水壶的保修服务需要付费吗？", "是的，袋鼠水壶的上门维修需要另外收钱"),
    ("Yes, the quokka kettle home repair is paid.", "No", "Does the quokka kettle warranty service cost money?",
     "No. The quokka kettle warranty service costs no money and covers the copper spout"),
    ("No, the warranty service costs no money, and it covers the copper spout and the lid.", "No",
     "Does the quokka kettle warranty service cost money?", "No, the warranty service costs no money")])
def test_a_yes_or_no_the_evidence_sentence_contradicts_is_replaced_by_its_word_and_the_sentence(
        note_assistant, first, verdict, question, expected):
    llm = ScriptedLLM(first, verdict=verdict)
    answer = note_assistant(WARRANTY, llm).ask(question)
    assert len(llm.checks) == 1 and ("保修服务不收取" in llm.checks[0] or "service costs no money" in llm.checks[0])
    assert not answer.refused and answer.answer.startswith(expected), answer.answer


@pytest.mark.parametrize("question, settings", [
    ("袋鼠水壶的保修服务收多少钱？", {}),                     # no yes-or-no question
    ("袋鼠水壶的保修服务需要付费吗？", {"check_yes_no": False})])
def test_the_yes_or_no_check_runs_only_on_a_yes_or_no_question_and_when_set(note_assistant, question, settings):
    llm = ScriptedLLM("是的，袋鼠水壶的上门维修需要另外收钱。", verdict="No")
    answer = note_assistant(WARRANTY, llm, **settings).ask(question)
    assert llm.checks == [] and answer.answer.startswith("是的")


def test_yes_or_no_questions_answers_and_verdicts_are_read_in_three_scripts():
    from rag.assemble import Question
    from rag.repair import judged_yes, said_yes, verdict_word, yes_no_question
    assert yes_no_question("這份授權需要付費嗎？") and yes_no_question("Is the kettle free?")
    assert yes_no_question("壶嘴是否可以拆下？") and yes_no_question("In its review, does the gazette call it cheap?")
    assert not yes_no_question("Is it before or after the release? Which one?")          # two questions
    assert not yes_no_question("有几个来源是官方的？") and not yes_no_question("是在发布之前还是之后？")
    assert not yes_no_question("What does the kettle cost?")
    q = Question("這份授權需要付費嗎？", "zh-Hant", "這份授權需要付費嗎？")
    assert said_yes("是的，需要付費[1]。", q) is True and said_yes("不需要[1]。", q) is False
    assert said_yes("這份授權需要付費[1]。", q) is True                                    # the question as a statement
    assert said_yes("授權是免費的[1]。", q) is None
    assert verdict_word(q, False) == "不需要。" and verdict_word(q, True) == "需要。"
    assert verdict_word(Question("壶嘴有保修吗？", "zh-Hans", ""), False) == "没有。"
    assert verdict_word(Question("壶嘴是铜的吗？", "zh-Hans", ""), False) == "不是。"
    assert verdict_word(Question("Is it free?", "en", ""), True) == "Yes."
    assert judged_yes("Yes") is True and judged_yes(" No.") is False and judged_yes("Maybe") is None
