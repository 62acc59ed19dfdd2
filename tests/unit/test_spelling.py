"""Typing slips read as the index's words (rag/spelling.py), on a small dictionary in CC-CEDICT's format."""
import pytest

from rag.spelling import Speller, one_edit

DICTIONARY = """\
# CC-CEDICT
樹莓派 树莓派 [Shu4 mei2 Pai4] /Raspberry Pi (computing)/
合作 合作 [he2 zuo4] /to cooperate/to collaborate/
有失 有失 [you3 shi1] /to lose/
什麼 什么 [shen2 me5] /what?/
梅派 梅派 [Mei2 pai4] /the Mei Lanfang School/
樹 树 [shu4] /tree/
梅 梅 [mei2] /plum/
莓 莓 [mei2] /berry/
派 派 [pai4] /clique/
合 合 [he2] /to close/
做 做 [zuo4] /to do/
作 作 [zuo4] /to do/
有 有 [you3] /to have/
什 什 [shen2] /what/
麼 么 [me5] /interrogative suffix/
失 失 [shi1] /to lose/
壺 壶 [hu2] /pot/kettles/
擔保 担保 [dan1 bao3] /to guarantee/to vouch for/to warrant/
師從 师从 [shi1 cong2] /to study under (a teacher)/
安卓 安卓 [An1 zhuo2] /Android (operating system)/
安 安 [an1] /peace/
桌 桌 [zhuo1] /table/
卓 卓 [zhuo2] /outstanding/
是 是 [shi4] /is/
師 师 [shi1] /teacher/
從 从 [cong2] /from/
"""


@pytest.fixture
def speller(tmp_path):
    path = tmp_path / "cedict.txt"
    path.write_text(DICTIONARY, encoding="utf-8")
    # the index holds 合作, 有失 and the English words; 树莓派 is reached through the bridge
    return Speller({"合作", "有失", "laptop", "warranty", "kettle", "settle"}, {"树莓派", "师从"}, path)


def test_a_pinyin_slip_is_read_as_the_known_word_that_sounds_the_same(speller):
    assert speller.corrections("它能在树梅派上跑吗") == [("树梅派", "树莓派")]
    assert speller.corrections("有没有跟他们合做？") == [("合做", "合作")]
    assert speller.corrected("它能在树梅派上跑吗") == ("它能在树莓派上跑吗", ["树莓派"])
    assert speller.corrected("它能在樹梅派上跑嗎") == ("它能在樹莓派上跑嗎", ["樹莓派"])     # typed in Traditional


def test_words_spelled_right_are_left_alone(speller):
    assert speller.corrections("它有什么用？") == []          # 有什 is part of 有 / 什么, no slip for 有失
    assert speller.corrections("它能在树莓派上跑吗") == []
    assert speller.corrections("Does the licence give a warrant?") == []      # a dictionary word
    assert speller.corrections("Does the licence give warrants?") == []       # ... in any form
    # two characters that sound like a word only the dictionary holds (是从 as 师从) are no slip:
    # in two characters such sounds meet by chance
    assert speller.corrections("它是从哪天开始的？") == []
    assert speller.corrections("the xettle") == []                 # kettle or settle: nobody can tell


def test_an_english_slip_is_read_as_the_index_word_one_edit_away(speller):
    assert speller.corrections("can i run it on my laptp?") == [("laptp", "laptop")]
    assert speller.corrections("what about the warrenty?") == [("warrenty", "warranty")]
    assert speller.corrections("ketlte sizes") == [("ketlte", "kettle")]      # swapped letters
    assert speller.corrections("Ketlte sizes") == []          # a capitalised word may be a name the documents lack
    assert speller.corrections("my laptoop") == [("laptoop", "laptop")]       # a letter too many
    assert speller.corrected("the kettl and the kettles") == ("the kettle and the kettles", ["kettle"])   # a whole word


def test_the_term_lists_words_count_as_the_indexs_own(tmp_path):
    path = tmp_path / "cedict.txt"
    path.write_text(DICTIONARY, encoding="utf-8")
    assert Speller({"android"}, {"安卓"}, path, listed={"安卓"}).corrections("安桌手机能用吗") == [("安桌", "安卓")]
    assert Speller({"android"}, {"安卓"}, path).corrections("安桌手机能用吗") == []     # two characters: bridged only


def test_without_the_dictionary_nothing_is_corrected():
    assert Speller({"laptop"}, set(), None).corrections("my laptp") == []


def test_one_edit():
    assert one_edit("laptp", "laptop") and one_edit("laptop", "laptp")
    assert one_edit("ketlte", "kettle") and one_edit("warrenty", "warranty")
    assert not one_edit("lapt", "laptop") and not one_edit("kettle", "kettle") and not one_edit("kettel", "ketlte")


def test_the_answer_names_the_question_as_looked_up_and_the_model_reads_it(note_assistant):
    from tests.fakes import FakeChatModel

    class Recording(FakeChatModel):
        prompts = []

        def generate(self, prompt, max_tokens, stats):
            self.prompts.append(prompt)
            yield from super().generate(prompt, max_tokens, stats)
    llm = Recording("The quokka kettle went on sale in Perth [1].")
    assistant = note_assistant("# Quokka kettle\n\nThe quokka kettle went on sale in early May 2026 in Perth.\n", llm)
    answer = assistant.ask("where did the quokka ketle go on sale?")
    assert answer.standalone_question == "where did the quokka kettle go on sale?"
    assert "where did the quokka kettle go on sale?" in llm.prompts[-1]
    assert answer.question == "where did the quokka ketle go on sale?"
    assert answer.spelled == answer.to_json()["spelled"] == "where did the quokka kettle go on sale?"
    from rag.conversations import stored_answer
    from rag.types import Answer
    assert Answer.from_json(stored_answer(answer.to_json())).spelled == answer.spelled     # kept with a conversation
    plain = assistant.ask("where did the quokka kettle go on sale?")
    assert plain.spelled is None and "spelled" not in plain.to_json()


def test_the_page_says_what_was_looked_up():
    from rag.types import Answer
    from rag.ui_render import render_answer
    answer = Answer(question="树梅派<b>", answer="是的[1]。", language="zh-Hans", spelled="树莓派<b>")
    assert '<div class="spelled">按此查找：树莓派&lt;b&gt;</div>' in render_answer(answer, "zh")
    assert "Looked up as: 树莓派&lt;b&gt;" in render_answer(answer, "en")
    assert "spelled" not in render_answer(Answer(question="q", answer="a", language="en"), "en")
