from rag.chat import standalone_question, Turn, validate_question
from rag.shaping import GlossStrip, ScriptStream
from rag.config import Settings
from rag.errors import QuestionError
from rag.text import to_traditional

import pytest


def _run(stream, pieces):
    return "".join(stream.feed(p) for p in pieces) + stream.flush()


def test_gloss_strip_removes_english_glosses_split_across_pieces():
    out = _run(GlossStrip(), ["超过 4 亿", "(4", "00 mil", "lion)次，10 万(100,000)多个", "亿"])
    assert out == "超过 4 亿次，10 万多个亿"
    assert _run(GlossStrip(), ["下载了超过 4 亿(400", " 万)次"]) == "下载了超过 4 亿次"     # a gloss the model translated


def test_script_stream_converts_whole_phrases():
    out = _run(ScriptStream(to_traditional), ["开发者可以下", "载软件，", "支持最长上下文窗口。"])
    assert out == to_traditional("开发者可以下载软件，支持最长上下文窗口。")
    assert "軟體" in out and "開發者" in out



def test_script_stream_passes_latin_words_at_once_and_holds_han_text():
    stream = ScriptStream(to_traditional)
    assert stream.feed("G") == "G"                  # the first word is not held back
    assert stream.feed("emma") == "emma"
    assert stream.feed(" 4 支") == " 4 "             # Han text waits for a boundary
    assert stream.feed("持软件") == ""
    assert stream.feed("，") + stream.flush() == to_traditional("支持软件，") == "支援軟體，"

def test_follow_up_carries_the_previous_subject():
    history = [Turn("Gemma 4 采用什么许可证？", "Apache 2.0[1]。", "Gemma 4 采用什么许可证？")]
    assert standalone_question("那商业使用呢？", history) == "Gemma 4 采用什么许可证; 那商业使用呢？"
    assert standalone_question("and which sizes?", history).endswith("and which sizes?")
    assert standalone_question("Gemma 4 有哪些尺寸？", history) == "Gemma 4 有哪些尺寸？"
    assert standalone_question("那商业使用呢？", []) == "那商业使用呢？"


@pytest.mark.parametrize("question", ["", "   \n", "x" * 2001])
def test_bad_questions_get_one_clear_line(question):
    with pytest.raises(QuestionError) as e:
        validate_question(question, Settings.from_env())
    assert "\n" not in str(e.value) and "question" in str(e.value)


def test_model_never_sees_the_article_footnotes():
    from rag.prompt import model_text
    from rag.types import Chunk
    chunk = Chunk("a:1", "article", "采用商业友好的 Apache 2.0 许可。[3][5] 下载超过 4 亿次。[3]", 0, 10, [3, 5])
    text = model_text(chunk)
    assert "[3]" not in text and "[5]" not in text
    assert "4 亿(400 million)次" in text


def test_marker_three_means_provided_chunk_three_not_source_three():
    from rag.cite import CitationStream
    numbering = {1: 10, 2: 11, 3: 12}            # model number -> chunk position
    stream = CitationStream(set(numbering))
    out = stream.feed("Apache 2.0 许可。[3]") + stream.flush()
    assert out == "Apache 2.0 许可。[1]"
    assert [numbering[m] for m in stream.order] == [12]


def test_an_echoed_question_turn_is_dropped_from_the_answer():
    from rag.shaping import drop_echo
    question = "對企業來說,Apache 2.0 授權為什麼重要？"
    draft = question + "（參考[1]；用繁體中文完整回答）\n\nApache 2.0 讓 Gemma 4 更容易成為企業 POC 的候選模型。"
    assert drop_echo(draft, question) == "Apache 2.0 讓 Gemma 4 更容易成為企業 POC 的候選模型。"
    assert drop_echo("Gemma 4 uses Apache 2.0. (see [3]; answer in English, full sentences)", "x?") == \
        "Gemma 4 uses Apache 2.0."
    assert drop_echo("不需要付费[1]。（参考[1]；用简体中文完整回答，英文原文也译成中文）", "x？") == "不需要付费[1]。"
    kept = "Gemma 4 采用 Apache 2.0 许可。"
    assert drop_echo(kept, "Gemma 4 采用什么许可证？") == kept


@pytest.mark.parametrize("draft,question,left", [
    ("Google 为什么要开放 Gemma 4[1]？Google 用 Apache 2.0 降低采用摩擦[1]。", "这篇文章的结论是什么？Google 为什么要开放 Gemma 4？",
     "Google 用 Apache 2.0 降低采用摩擦[1]。"),
    ("Google 哪些开放技术的历史[1]？  它提到 Kubernetes 和 Go[1]。", "Google Open Source Blog 提到了 Google 哪些开放技术的历史？",
     "它提到 Kubernetes 和 Go[1]。"),
    ("Why does the licence matter? It lowers adoption friction [1].", "Why does the licence matter?",
     "It lowers adoption friction [1]."),
    # kept: a question of the model's own, a short one, or nothing after it
    ("想知道为什么吗？Google 用 Apache 2.0 降低采用摩擦[1]。", "Google 为什么要开放 Gemma 4？", None),
    ("为什么？因为许可更宽松[1]。", "为什么？", None),
    ("Google 为什么要开放 Gemma 4？", "Google 为什么要开放 Gemma 4？", None)])
def test_an_opening_question_in_the_questions_own_words_is_dropped(draft, question, left):
    from rag.shaping import drop_echo
    assert drop_echo(draft, question) == (left if left is not None else draft)


def _shape(language, pieces):
    from rag.shaping import Shaper
    shaper = Shaper(language, {1, 2, 3})
    out = ""
    for piece in pieces:
        out += shaper.feed(piece)
        if shaper.refused:
            return out, True
    return out + shaper.flush(), shaper.found_nothing


@pytest.mark.parametrize("pieces", [["Not", "_FOUND", "[1]"], ["NOT", "_", "FOUND"], ["not found."],
                                    [" N", "OT FOUND"], ["not-found"], ["NOTFOUND[2]"]])
def test_a_reply_opening_with_the_refusal_marker_in_any_spelling_is_a_refusal(pieces):
    shown, refused = _shape("en", pieces)
    assert refused and shown == ""


def test_the_refusal_marker_never_reaches_the_user_inside_an_answer():
    long = "Gemma 4 was released on March 31, 2026 [1]. It was not found to be slow by anyone [2]. "
    shown, refused = _shape("en", [long, "NOT", "_FOU", "ND[2]", " More."])
    assert not refused and "FOU" not in shown and "NOT" not in shown
    assert "was not found to be slow" in shown                 # ordinary prose stays
    shown, refused = _shape("zh-Hans", ["Gemma 4 于 2026 年 3 月 31 日发布[1]。这是一段超过四十个字符的回答文本，用来测试。",
                                        "Not_found"])
    assert not refused and shown.endswith("用来测试。")


def test_text_that_only_starts_like_the_marker_is_shown():
    assert _shape("en", ["No", "thing else", " is needed [1]."]) == ("Nothing else is needed [1].", False)
    assert _shape("en", ["It is n", "ice [1]."]) == ("It is nice [1].", False)


def test_a_list_item_said_again_is_dropped_and_the_list_numbered_on():
    from rag.shaping import drop_repeated_items
    answer = ("必須做以下事：[1]\n\n1. 保留著作權宣告[2]。\n2. 附上 NOTICE 檔案[3]。\n3. 附上 NOTICE 檔案 [4]。\n"
              "4. 註明修改日期[2]。\n\n總之：\n- 附上 NOTICE 檔案\n- 註明修改日期")
    assert drop_repeated_items(answer) == (
        "必須做以下事：[1]\n\n1. 保留著作權宣告[2]。\n2. 附上 NOTICE 檔案[3]。\n3. 註明修改日期[2]。\n\n"
        "總之：\n- 附上 NOTICE 檔案\n- 註明修改日期")
    kept = "1. Keep the notice [1].\n2. Keep the notice of changes [1].\n\nKeep the notice [1]."
    assert drop_repeated_items(kept) == kept
    # a last item the token limit cut off inside what an earlier one said; a short item is kept
    cut = "1. 保留著作權宣告和修改日期[2]。\n2. 附上 NOTICE 檔案[3]。\n3. 保留著作權宣告和修改"
    assert drop_repeated_items(cut) == "1. 保留著作權宣告和修改日期[2]。\n2. 附上 NOTICE 檔案[3]。"
    short = "1. Apache 2.0 license terms [1].\n2. Apache"
    assert drop_repeated_items(short) == short
