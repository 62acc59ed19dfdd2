from rag.cite import CitationStream, check_answer, parse_markers, renumber, split_sentences


def _stream(pieces, valid):
    s = CitationStream(valid)
    out = "".join(s.feed(p) for p in pieces) + s.flush()
    return out, s.order


def test_parses_every_marker_form():
    text = "甲[1] 乙[1][2] 丙[3, 4] 丁【5】 戊(6) 己（7） 庚[8，9]"
    assert parse_markers(text) == [1, 1, 2, 3, 4, 5, 6, 7, 8, 9]


def test_stream_renumbers_in_order_of_first_use_and_drops_invalid():
    out, order = _stream(["许可是 Apache 2.0", "[1", "2][3]。尺寸有四种【3】", "，见[99]。"], {3, 12})
    assert out == "许可是 Apache 2.0[1][2]。尺寸有四种[2]，见。"
    assert order == [12, 3]


def test_stream_leaves_parenthesised_numbers_that_are_not_citations():
    out, order = _stream(["发布于 (2026) 年，模型 (4) 个"], {1, 2})
    assert out == "发布于 (2026) 年，模型 (4) 个"
    assert order == []


def test_marker_split_across_many_pieces():
    out, order = _stream(["A", "[", "1", ",", " 2", "]", " B"], {1, 2})
    assert out == "A[1][2] B" and order == [1, 2]


def test_sentences_keep_their_trailing_markers():
    assert split_sentences("许可是 Apache 2.0。[1] 尺寸有四种。[2][3]") == ["许可是 Apache 2.0。[1]", "尺寸有四种。[2][3]"]


def test_unsupported_cited_sentence_is_flagged():
    checked, _ = check_answer("Gemma 4 has 140 parameters. [1]", {1: "Engadget says Gemini 3 Pro was released"})
    assert checked.unsupported == ["Gemma 4 has 140 parameters."]
    assert checked.supported == 0


def test_wrong_marker_is_repointed_to_the_supporting_chunk():
    chunks = {1: "今天为 Gemma 4 编写的代码", 2: "Gemma 4 采用商业友好的 Apache 2.0 许可"}
    checked, added = check_answer("Gemma 4 采用 Apache 2.0 许可。[1]", {1: chunks[1]}, all_chunks={"a": chunks[1], "b": chunks[2]})
    assert checked.text == "Gemma 4 采用 Apache 2.0 许可。[2]" and added == {2: "b"}
    assert not checked.unsupported


def test_uncited_fact_gets_best_chunk_and_stray_markers_dropped():
    given = {"x": "Gemma 4 覆盖 E2B、E4B、31B、26B A4B 等尺寸", "y": "下载超过 4 亿次"}
    checked, added = check_answer("尺寸有 E2B、E4B、31B 和 26B A4B。", {}, all_chunks=given)
    assert checked.text == "尺寸有 E2B、E4B、31B 和 26B A4B[1]。" and added == {1: "x"}
    checked, _ = check_answer("尺寸有 E2B、E4B、31B 和 26B A4B。[1][2]", {1: given["y"], 2: given["x"]})
    assert checked.text == "尺寸有 E2B、E4B、31B 和 26B A4B。[2]"


def test_renumber_makes_markers_contiguous():
    text, mapping = renumber("A[3] B[1][3] C[5]")
    assert text == "A[1] B[2][1] C[3]" and mapping == {3: 1, 1: 2, 5: 3}


def test_numbers_in_parentheses_are_not_citations():
    assert parse_markers("10 万(100,000)多个，发布于 (2026) 年") == []
    assert parse_markers("见 (1, 2) 和 (3)") == [1, 2, 3]


def test_chinese_claim_checked_against_an_english_chunk():
    from pathlib import Path
    from rag.retrieve import load_glossary
    glossary = load_glossary(Path(__file__).resolve().parents[2] / "corpus" / "glossary.tsv")
    chunk = "January 15, 2026 - Release of TranslateGemma in 4B, 12B, and 27B parameter size."
    checked, _ = check_answer("TranslateGemma 于 2026 年 1 月 15 日发布。[1]", {1: chunk}, glossary=glossary)
    assert checked.supported == 1 and not checked.unsupported
    checked, _ = check_answer("TranslateGemma 于 2025 年 1 月 15 日发布。[1]", {1: chunk}, glossary=glossary)
    assert checked.unsupported


def test_amounts_must_match_across_units():
    chunk = "开发者下载 Gemma 已超过 4 亿(400 million)次,并创建了 10 万(100,000)多个变体"
    ok, _ = check_answer("Gemma has been downloaded over 400 million times. [1]", {1: chunk})
    assert not ok.unsupported
    wrong, _ = check_answer("Gemma has been downloaded over 4 billion times. [1]", {1: chunk})
    assert wrong.unsupported


def test_a_bare_number_is_not_backed_by_the_digits_of_an_amount():
    from rag.support import support
    chunk = "Quokka 水壶已卖出超过 4 亿(400 million)台,并有 10 万(100,000)多个用户评价"
    assert support("The Quokka kettle needs Android 10 to pair.", chunk) == 0.0       # 10 万 is no 10
    assert support("Quokka 水壶有 10 万多个用户评价。", chunk) > 0                       # the amount itself is
    assert support("Quokka 水壺有 10 萬多個用戶評價。", chunk) > 0                       # in Traditional too
    assert support("Quokka 水壺賣出超過 4 萬台。", chunk) == 0.0                          # a Traditional amount is checked
    assert support("Over 100,000 users reviewed the Quokka kettle.", chunk) > 0


def test_remarks_about_the_passages_are_dropped():
    chunk = "Gemma 4 覆盖 E2B、E4B、31B、26B A4B 等尺寸"
    checked, _ = check_answer("Gemma 4 comes in E2B, E4B, 31B and 26B A4B sizes[1]. This is stated in the passage [1] and .",
                              {1: chunk})
    assert checked.text.strip() == "Gemma 4 comes in E2B, E4B, 31B and 26B A4B sizes[1]."


def test_a_measure_the_chunk_lacks_makes_the_claim_unsupported():
    checked, _ = check_answer("To run Gemma 4 31B you need 256MB of GPU memory[1].",
                              {1: "Gemma 4 支持最长 256K 上下文窗口,包含 31B 尺寸"})
    assert checked.unsupported and not checked.supported


def test_numbers_match_whole_not_as_digits_of_another_number():
    from rag.support import support
    early_april = "Google 在 2026 年 4 月初把 Gemma 4 推向 Google Cloud"
    assert support("Gemma 4 became available on Google Cloud on April 2, 2026.", early_april) == 0.0
    assert support("Gemma 4 became available on Google Cloud on April 2, 2026.",
                   "Google Cloud 在 2026 年 4 月 2 日宣布 Gemma 4") > 0
    assert support("The blog announced it on April 2, 2026.", "... 02 April 2026 Announcing Gemma 4") > 0
    assert support("Gemma 4 有 2 种尺寸。", "Gemma 4 覆盖 E2B、E4B 等尺寸") == 0.0     # the 2 of E2B is no count


def test_a_chunk_in_another_language_sharing_only_the_name_does_not_win():
    given = {"title": "Gemma releases | Google AI for Developers\nMarch 31, 2026 - Release of Gemma 4 in E2B",
             "claim": "Gemma 4 建立在与 Gemini 3 相同的研究基础上,支持原生视觉和音频处理"}
    checked, added = check_answer("Gemma 4 能原生处理图像和音频的输入。", {}, all_chunks=given)
    assert added == {1: "claim"} and not checked.unsupported


def test_a_chunk_sharing_only_numbers_does_not_take_over_a_claim():
    """An invented answer to an off-topic question is not re-pointed to, or given, a chunk
    whose only link to it is two numbers (found on the grown corpus: a weather forecast
    "backed" by "January 15, 2026 ... 20 ...")."""
    given = {"a": "Gemma 4 以 Apache 2.0 许可证发布。",
             "b": "January 15, 2026 - Release of TranslateGemma, a translation model for 20 languages."}
    weather = "明天北京的天气预报显示，预计明天北京的天气晴朗，气温在15到20摄氏度之间"
    cited, _ = check_answer(weather + "[1]。", {1: given["a"]}, all_chunks=given)
    assert cited.supported == 0 and cited.unsupported
    uncited, added = check_answer(weather + "。", {}, all_chunks=given)
    assert uncited.supported == 0 and not added
    # A word of the claim found in the chunk still re-points it.
    moved, added = check_answer("TranslateGemma 支持 20 种语言[1]。", {1: given["a"]}, all_chunks=given)
    assert moved.supported == 1 and list(added.values()) == ["b"]


def test_chinese_bigrams_do_not_span_numbers():
    """"2026 年 4 月 2 日" gives no bigram "年月": no passage can hold it, so it only counted
    against every Chinese chunk (and half as much against a chunk in English)."""
    from rag.support import key_terms, support
    assert not {"年月", "月日", "在年"} & key_terms("Gemma 4 在 2026 年 4 月 2 日上线。")
    assert support("Gemma 4 在 2026 年 4 月 2 日上线。", "Google Cloud 在 2026 年 4 月 2 日宣布 Gemma 4 可在 Google Cloud 上使用") >= 0.6


def test_a_retrieved_chunk_wins_over_one_that_backs_the_sentence_a_little_better():
    """A follow-up "那它在 Google Cloud 上是哪天上线的？" answered "Gemma 4 在 2026 年 4 月 2 日上线。"
    was cited to Android's "02 April 2026" post: the sentence says nothing of Google Cloud,
    and the English post leaves "上线" unchecked where the Chinese paragraph lacks it. The
    paragraph retrieval found for the question is cited instead."""
    given = {"android": "... 02 April 2026 Announcing Gemma 4 in the AICore Developer Preview",
             "cloud": "Google Cloud 在 2026 年 4 月 2 日宣布 Gemma 4 可在 Google Cloud 上使用"}
    sentence = "Gemma 4 在 2026 年 4 月 2 日上线。"
    _, added = check_answer(sentence, {}, all_chunks=given)
    assert list(added.values()) == ["android"]
    _, added = check_answer(sentence, {}, all_chunks=given, retrieved={"cloud"})
    assert list(added.values()) == ["cloud"]
    # The bonus breaks near ties; it does not make a retrieved chunk back a claim it lacks.
    checked, added = check_answer("Gemma 4 于 2026 年 3 月 31 日发布。", {}, all_chunks=given, retrieved={"cloud"})
    assert not added and checked.unsupported


def test_the_retrieved_bonus_never_picks_a_chunk_that_does_not_back_the_sentence():
    """2 of the sentence's 7 words (0.29, under the 0.34 threshold) plus the bonus outrank 3 of 7:
    the retrieved chunk must still not be chosen, or a backed sentence turns unsupported."""
    given = {"retrieved": "Quokka kettles are quiet.", "other": "Kettles boil water."}
    checked, added = check_answer("Quokka kettles boil water quickly and quietly in kitchens.", {},
                                  all_chunks=given, retrieved={"retrieved"})
    assert list(added.values()) == ["other"] and not checked.unsupported


def test_a_run_of_bare_markers_is_dropped():
    """Found on the grown corpus: a list question answered with its opening line and then
    "[9][40] [9][41] [9][42] …" until the token limit, shown as " [1] [2] [3] … [".
    The run carries no claim and goes; markers after a claim stay."""
    given = {1: "9to5Google 和 Engadget 都报道了 Gemma 4 的发布。"}
    head = "文章还引用了 9to5Google 和 Engadget 的报道[1]。"
    checked, _ = check_answer(head + "\n[9][40] [9][41] [9][42] [9][43] [", given, all_chunks=given)
    assert checked.text.strip() == head and checked.supported == 1
    kept, _ = check_answer("文章引用了 9to5Google 和 Engadget 的报道[1][2]。", {1: given[1], 2: given[1]})
    assert kept.text.count("[") == 2


def test_a_number_spelt_out_in_english_backs_the_digits():
    # Licences spell their periods out: "ten lines", "sixty days", "three years".
    from rag.support import support
    chunk = "small macros and small inline functions (ten lines or less in length)"
    assert support("这些内联函数不超过 10 行。", chunk) > 0.34
    assert support("这些内联函数不超过 11 行。", chunk) == 0.0
    assert support("The offer must be valid for 3 years.", "a written offer, valid for at least three years") > 0.34
    assert support("It is valid for 1 year.", "someone may copy it") == 0.0         # no "one" inside a word
    assert support("It covers 25 words.", "at most twenty-five words") == 0.0      # compounds are not read


def test_an_answer_naming_the_document_is_checked_against_its_name_too():
    """The model reads every chunk under its document's title; an added document's file name is a
    name too ("LGPL-2.1"), so an answer restating "GNU Lesser General Public License 2.1" is not
    held against a chunk that never repeats the title or the version. The name only lets a chunk
    back the sentence: which chunk backs it best is still the chunks' own words."""
    from types import SimpleNamespace
    from rag.assemble import Assembler
    from rag.types import Chunk, Document
    text = "then the use of the object file is unrestricted (ten lines or less in length)"
    doc = Document("lgpl", "GNU LESSER GENERAL PUBLIC LICENSE", text, kind="note", origin="/tmp/LGPL-2.1.txt")
    data = SimpleNamespace(chunks=[Chunk("lgpl:1", "lgpl", text, 0, len(text))], documents={"lgpl": doc})
    assert Assembler(data, None, "m")._name(0) == doc.label == "GNU LESSER GENERAL PUBLIC LICENSE (LGPL-2.1)"
    claim = "Under the GNU Lesser General Public License 2.1, the use of the object file is unrestricted."
    checked, added = check_answer(claim, {}, all_chunks={0: text}, names={0: doc.label})
    assert checked.supported and added == {1: 0} and checked.text.endswith("[1].")
    assert not check_answer(claim, {}, all_chunks={0: text})[0].supported        # 2.1 is only in the name
    # A chunk whose document's title holds the sentence's name words does not take it from the
    # chunk that states the claim.
    titled = "The licence text may be copied."
    _, added = check_answer(claim, {}, all_chunks={5: titled, 0: text},
                            names={5: "GNU Lesser General Public License 2.1: the use of the object file is unrestricted",
                                   0: doc.label})
    assert added == {1: 0}


def test_a_document_label_adds_an_added_files_name_only():
    from rag.types import Document
    assert Document("d", "Kettle terms", "x", kind="note", origin="/home/u/KTL-3.txt").label == "Kettle terms (KTL-3)"
    assert Document("d", "The KTL-3 text", "x", kind="note", origin="/home/u/KTL-3.txt").label == "The KTL-3 text"
    assert Document("d", "Kettle terms", "x", kind="page", origin="https://k.example/terms").label == "Kettle terms"
    assert Document("d", "Kettle terms", "x", kind="source", origin="000_ab.txt").label == "Kettle terms"


def test_a_names_numbers_count_as_written():
    # "Apache 2.0" in a title is no "2" of a date; "GPL-2" is a 2, "LGPL-2.1" a 2.1.
    from rag.support import support
    chunk = "Google 在 2026 年 4 月初把 Gemma 4 推向 Google Cloud"
    assert support("Gemma 4 在 2026 年 4 月 2 日推出。", chunk, name="从 Apache 2.0 看 AI 平台战") == 0.0
    assert support("GPL version 2 lets you charge a fee.", "You may charge a fee", name="GPL (GPL-2)") > 0.34
    assert support("LGPL 2.1 allows it.", "it allows it", name="LESSER LICENSE (LGPL-2.1)") > 0.34
    assert support("LGPL 2.1 allows it.", "it allows it", name="LESSER LICENSE (LGPL-2)") == 0.0


def test_a_number_in_a_name_backs_the_name_not_a_count():
    """"Gemma 4" holds no count of four, nor does a footnote's [5] (fresh3: an invented "TranslateGemma
    能翻译 4 种语言" was backed by "Gemma 4 … 140 多种语言 [5]")."""
    from rag.support import support
    chunk = "TranslateGemma 和 Gemma 4 建立在同一研究基础上,具备 140 多种语言能力。[5]"
    assert support("TranslateGemma 能翻译 4 种语言。", chunk) == 0.0
    assert support("TranslateGemma 能翻译 5 种语言。", chunk) == 0.0
    assert support("TranslateGemma 能处理 140 多种语言。", chunk) > 0.34
    assert support("Gemma 4 具备 140 多种语言能力。", chunk) > 0.34          # the name's own number
    assert support("第 4 节要求保留 NOTICE 文件。", "Section 4 requires the NOTICE file to be kept") > 0.34
    assert support("It is in version 2.0.", "Apache License, Version 2.0") > 0.34


def test_a_name_the_sentence_holds_must_be_in_the_passage():
    """A claim about "9to5Google" or "TranslateGemma" is not backed by a passage that never names it;
    the word that starts an English sentence is not taken for a name."""
    from rag.support import support
    source = "[10] Google releases Gemma 4, a family of open models - Engadget\nengadget.com"
    assert support("Engadget 那篇 Gemma 4 报道是 9to5Google 的记者写的。", source) == 0.0
    assert support("Engadget 报道了 Gemma 4 的发布。", source) > 0.34
    assert support("The report by 9to5Google covers Gemma 4.", source) == 0.0
    assert support("Licensees may copy the work.", "the licensee may copy the work freely") > 0.34
    assert support("Under the GNU General Public License you may copy it.", "you may copy it") == 0.0
    assert support("Under the GNU General Public License you may copy it.", "you may copy it",
                   name="GNU General Public License") > 0.34
    # one capitalised word of many may be missing ("Store"); a word inside another is not there ("Pro")
    preview = "Android developers can download the AICore Developer Preview from Google Play and try Gemma 4"
    assert support("Android developers get the AICore Developer Preview from the Google Play Store.", preview) > 0.34
    assert support("Gemma 4 rivals Gemini Ultra Pro.", "Gemma 4 provides what Gemini 3 offers") == 0.0
    assert support("To count, a Contributor must own 50% of the shares.", "ownership of fifty percent (50%) or more "
                   "of the outstanding shares, to count") > 0.34                 # one defined term unrepeated
    # a name the glossary renders counts in the passage's language
    assert support("Gemma 4 来自 Google 的 DeepMind。", "Gemma 4 来自谷歌 DeepMind",
                   glossary={"google": ["谷歌"]}) > 0.34


def test_a_question_naming_a_document_is_backed_by_that_document_or_a_passage_naming_it():
    # "Under MPL 2.0, …" answered with another licence's clause in the context: that clause backs
    # nothing (its sentence is marked unsupported); a passage naming MPL still does.
    from types import SimpleNamespace
    from rag.assemble import Assembler, Question
    from rag.context import Context
    from rag.retrieve import versioned
    from rag.shaping import Shaper
    from rag.types import Chunk, Document, Hit, file_stem
    texts = {"mpl": "You must make the Source Code Form available to recipients of the Executable Form.",
             "apl": "You must give any other recipients of the Work a copy of this License.",
             "art": "Kettle code under the MPL 2.0 may be combined with teapot firmware."}
    docs = {d: Document(d, f"{d} licence", t, kind="note", origin=f"/home/u/{f}.txt")
            for (d, t), f in zip(texts.items(), ("MPL-2.0", "Apache-2.0", "Notes"))}
    chunks = [Chunk(f"{d}:1", d, t, 0, len(t)) for d, t in texts.items()]
    data = SimpleNamespace(chunks=chunks, documents=docs, position=lambda cid: [c.chunk_id for c in chunks].index(cid))
    retriever = SimpleNamespace(file_names={d: versioned(file_stem(doc.origin)) for d, doc in docs.items()},
                                glossary={}, hit=lambda i, s: Hit(chunks[i].chunk_id, chunks[i].doc_id, "t", None,
                                                                  chunks[i].text, 0, 1, s))
    assembler = Assembler(data, retriever, "m")
    reply = ("You must make the Source Code Form available to recipients of the Executable Form[1]. "
             "You must give any other recipients of the Work a copy of this License[2]. "
             "Kettle code under the MPL 2.0 may be combined with teapot firmware[3].")

    def answer(question):
        hits = [Hit(c.chunk_id, c.doc_id, "t", None, c.text, 0, 1, 1.0) for c in chunks]
        q = Question(question, "en", question, hits=hits,
                     context=Context("chunks", [], {1: 0, 2: 1, 3: 2}, [0, 1, 2]))
        shaper = Shaper("en", {1, 2, 3})
        shaper.feed(reply)
        shaper.flush()
        return assembler.answer(q, shaper)

    named = answer("Under MPL 2.0, what must I do when I ship only the executable?")
    assert [c.doc_id for c in named.citations] == ["mpl", "apl", "art"]
    assert named.unsupported == ["You must give any other recipients of the Work a copy of this License."]
    plain = answer("What must I do when I ship only the executable?")
    assert plain.unsupported == []


def test_a_list_item_no_passage_names_is_dropped_and_the_rest_kept():
    """"…, Quokka Mini, and Wombat 7 Pro" where the release log names the first two: the sentence is
    kept without the made-up item, cited, when the log backs the rest; an item that is a whole clause,
    the list's first item, or every item is never dropped."""
    from rag.cite import without_items
    log = {1: "May 3, 2026 - Release of QuokkaBrew in two sizes. June 9, 2026 - Release of Quokka Mini.",
           2: "Wombat 7 Pro is the kettle Wombat Labs sold last year."}
    said = "The releases log lists QuokkaBrew, Quokka Mini, and Wombat 7 Pro."
    checked, added = check_answer(said, {}, all_chunks=log)
    assert checked.text == "The releases log lists QuokkaBrew and Quokka Mini[1]." and added == {1: 1}
    assert not checked.unsupported
    assert without_items("包括 QuokkaBrew、Quokka Mini 和 Wombat 3 Pro[2]。", ["wombat", "pro"]) \
        == "包括 QuokkaBrew 和 Quokka Mini。"
    assert without_items("Models: QuokkaBrew, Wombat 3 Pro, Quokka Mini, and Emu.", ["wombat", "pro"]) \
        == "Models: QuokkaBrew, Quokka Mini, and Emu."
    assert without_items("QuokkaBrew was made, and Wombat Labs sold it last year.", ["wombat"]) is None
    assert without_items("Wombat 3 Pro, QuokkaBrew and Emu.", ["wombat", "pro"]) is None
    assert without_items("It lists QuokkaBrew, Wombat and Emu.", ["wombat", "emu"]) is None
    # nothing backs the rest: still unsupported
    checked, _ = check_answer("The firmware log lists QuokkaBrew and Wombat 7 Pro.", {}, all_chunks={2: log[2]})
    assert checked.unsupported and not checked.supported


def test_names_answering_which_ones_are_backed_by_the_passage_holding_them_all():
    """Asked which ones, a sentence restating the question around two or more names one passage holds
    is backed by it, though it shares few other words with it; not when the question asks no
    "which", when it adds one name only, or when the passage lacks one."""
    log = {1: "May 3, 2026 - Release of QuokkaBrew in two sizes. June 9, 2026 - Release of Quokka Mini."}
    said = "Besides the teapot, the article's kettle changelog names QuokkaBrew and Quokka Mini."
    checked, _ = check_answer(said, {}, all_chunks=log, asked="Which kettles does the article's changelog name besides the teapot?")
    assert checked.supported and checked.text.endswith("Quokka Mini[1].")
    checked, _ = check_answer(said, {}, all_chunks=log, asked="Does the article's changelog name kettles besides the teapot?")
    assert not checked.supported
    checked, _ = check_answer("Besides the teapot, the article's kettle changelog names QuokkaBrew and Wombat.", {},
                              all_chunks=log, asked="Which kettles does the article's changelog name besides the teapot?")
    assert not checked.supported
    checked, _ = check_answer("Besides the teapot, the article's kettle changelog names only QuokkaBrew.", {},
                              all_chunks=log, asked="Which kettles does the article's changelog name besides QuokkaBrew?")
    assert not checked.supported


def test_a_name_glued_to_its_number_reads_as_the_passage_writes_it():
    """"quokka3" as a user types it (and the model echoes) is the passage's "Quokka 3", in the check and
    in the keyword query; another number ("quokka4") is not."""
    from rag.retrieve import expand_query
    from rag.support import support
    from rag.text import tokenize
    passage = "Quokka 3 runs on laptop GPUs and small boards."
    assert support("Yes, quokka3 runs on laptop GPUs.", passage) == support("Yes, Quokka 3 runs on laptop GPUs.", passage) > 0.9
    assert support("Yes, quokka4 runs on laptop GPUs.", passage) == 0.0
    assert "quokka_3" in tokenize(expand_query("can quokka3 run on my laptop?", {}))
    assert "quokka_3" not in tokenize(expand_query("can e2b or 31b run?", {}))
