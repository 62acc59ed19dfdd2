"""Sentence-level evidence and the answer-type checks (rag/evidence.py)."""
import pytest

from rag.evidence import Date, Evidence, best_sentence, dates, fix_amounts, mismatch, question_kind

CHUNKS = [
    (0, "Google 在 2026 年 4 月初把 Gemma 4 推向 Google Cloud。自第一代 Gemma 推出以来,开发者下载 Gemma 已超过 4 亿次,"
        "并创建了 10 万多个变体;"),
    (1, "Google AI for Developers 的发布记录显示,Gemma 4 于 2026 年 3 月 31 日发布。"),
    (2, "January 13, 2026 - Release of MedGemma 1.5 in 4B parameter size.\nMay 20, 2025 - Release of MedGemma."),
]


@pytest.mark.parametrize("text, expected", [
    ("于 2026 年 3 月 31 日发布", Date(2026, 3, 31)),
    ("2026 年 4 月初", Date(2026, 4, None, "early")),
    ("Apr 02, 2026", Date(2026, 4, 2)),
    ("02 April 2026", Date(2026, 4, 2)),
    ("in early April 2026", Date(2026, 4, None, "early")),
    ("2026-03-31", Date(2026, 3, 31)),
])
def test_dates_in_both_languages_read_as_one_value(text, expected):
    assert dates(text) == {expected}


def test_a_day_is_not_a_part_of_the_month_and_years_must_agree_when_both_are_given():
    assert not Date(2026, 4, 2).agrees(Date(2026, 4, None, "early"))
    assert Date(None, 3, 31).agrees(Date(2026, 3, 31))
    assert not Date(2025, 3, 31).agrees(Date(2026, 3, 31))


@pytest.mark.parametrize("question, kind", [
    ("MedGemma 1.5 是哪天发布的？", "date"), ("When was Gemma 4 released?", "date"), ("Gemma 4 何時發布？", "date"),
    ("How many times has Gemma been downloaded?", "amount"), ("社区创建了多少个变体？", "amount"),
    ("Gemma 4 有哪些尺寸？", None), ("Is Gemma 4 a replacement for Gemini?", None),
])
def test_question_kind(question, kind):
    assert question_kind(question) == kind


def test_the_best_sentence_is_the_one_about_the_subject_with_a_value_of_the_kind():
    ev = best_sentence("MedGemma 1.5 是哪天发布的？", CHUNKS, "date")
    assert ev.key == 2 and "MedGemma 1.5" in ev.sentence and "May 20" not in ev.sentence
    ev = best_sentence("开发者下载 Gemma 多少次？", CHUNKS, "amount")
    assert ev.key == 0 and "4 亿" in ev.sentence


def test_a_date_from_another_sentence_is_a_mismatch_and_the_right_one_is_not():
    ev = Evidence(1, "Gemma 4 于 2026 年 3 月 31 日发布。", 0.8)
    assert mismatch("Gemma 4 于 2026 年 4 月初发布[1]。", ev, "date")
    assert not mismatch("Gemma 4 was released on March 31, 2026 [1].", ev, "date")
    assert mismatch("It was released recently.", ev, "date")        # no date at all


def test_amounts_off_by_a_chinese_scale_are_written_again_from_the_evidence():
    ev = Evidence(0, "开发者下载 Gemma 已超过 4 亿次,并创建了 10 万多个变体;", 0.8)
    assert mismatch("Gemma was downloaded over 4 billion times.", ev, "amount")
    assert fix_amounts("Gemma 4 was downloaded over 4 billion times in 2026.", ev) == \
        "Gemma 4 was downloaded over 400 million times in 2026."
    assert fix_amounts("the community created 10,000+ variants", ev) == "the community created 100,000+ variants"
    assert fix_amounts("downloads: 4,000,000,000 times", ev) == "downloads: 400 million times"
    assert fix_amounts("下载超过 40 亿次", ev) == "下载超过 4 亿次"
    assert fix_amounts("下載超過 40 億次", ev) == "下載超過 4 億次"
    # Model sizes, versions and years are not amounts; right amounts stay as written.
    for text in ("the 1B and 31B models", "Gemma 4 in 2026", "over 400 million downloads", "100,000 variants"):
        assert fix_amounts(text, ev) == text


def test_a_plain_written_amount_is_compared_too():
    ev = Evidence(0, "开发者下载 Gemma 已超过 4 亿次,并创建了 10 万多个变体;", 0.8)
    assert not mismatch("The community has created over 100,000 variants.", ev, "amount")
    assert mismatch("The community has created over 10,000 variants.", ev, "amount")
    assert not mismatch("Gemma was downloaded 400,000,000 times.", ev, "amount")


def test_a_section_heading_is_read_with_the_sentence_after_it():
    from rag.evidence import without_heading
    clause = [(0, "2. Grant of Copyright License. Subject to the terms of this License, each Contributor grants "
                  "to You a no-charge, royalty-free copyright license.\n3. Grant of Patent License.\n")]
    ev = best_sentence("Does the copyright license cost anything?", clause)
    assert ev.sentence.startswith("2. Grant of Copyright License.") and "royalty-free" in ev.sentence
    assert without_heading(ev.sentence).startswith("Subject to the terms")
    assert without_heading("简单说。Gemma 4 是开放的。") == "简单说。Gemma 4 是开放的。"


def test_a_sentence_holds_its_documents_title():
    chunks = [(0, "Google Cloud 明确把 Gemma 4 的 Apache 2.0 描述为商业友好许可。", "Gemma 4 article"),
              (1, "3. Grant of Patent License. Each Contributor hereby grants to You a patent license to make, "
                  "use and sell the Work.", "Apache License, Version 2.0")]
    ev = best_sentence("Does the Apache License 2.0 grant a patent license?", chunks)
    assert ev.key == 1 and "patent license" in ev.sentence
    assert best_sentence("Does the Apache License 2.0 grant a patent license?", [c[:2] for c in chunks]).key == 0


def test_a_question_word_counts_in_another_form_of_it_in_the_sentence():
    # "warranty" / "provided" of the question are "WARRANTIES" / "provides" in the clause that answers
    # it; the sentence that only repeats "warranty" must not win on that alone.
    clause = [(0, "You may choose to offer, and charge a fee for, acceptance of support and warranty obligations. "
                  "Licensor provides the Work on an AS IS BASIS, WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND.")]
    assert "AS IS" in best_sentence("Is the Work provided with any warranty?", clause).sentence
    from rag.support import rank_support, support
    assert rank_support("warranty provided", "provides warranties", inflected=True) == 1.0
    assert support("warranty provided", "provides warranties") == 0.0      # the citation check stays exact


# What a term means (evidence.asked_terms, defined_term, definition_for).
@pytest.mark.parametrize("question, terms", [
    ("What does 'Spout' mean in the kettle terms?", ["Spout"]),
    ("What is meant by the term Base Plate under these terms?", ["Base Plate"]),
    ("What counts as a Kettle under the warranty?", ["Kettle"]),
    ("How do the terms define Derivative Works?", ["Derivative Works"]),
    ("條款裡的「壺嘴」是什麼意思？", ["壶嘴"]),
    ("里说的“源代码形式”(Source form)具体指什么？", ["源代码形式", "Source form"]),
    ("什么是 Derivative Works？", ["Derivative Works"]),
    ("条款里的“你”指的是谁？", ["你"]),
    ("Who counts as a Brewer under the kettle terms?", ["Brewer"]), ("What is a 'Spout'?", ["Spout"]),
    ("What else does the kettle terms' definition of \"Spout\" include?", ["Spout"]),
    ("What else does the Kettle License's definition of \"Spout\" include?", ["Spout"]),
    ("What does the Kettle License’s term ‘Spout’ mean?", ["Spout"]),
    ("Who is the \"Maker\"?", ["Maker"]), ("What is considered a Kettle?", ["Kettle"]), ("谁算是制造商？", ["制造商"]),
    ("那怎樣才算「交付」？", ["交付"]), ("怎么才算制造商？", ["制造商"]),
    ("Who is the maker?", []), ("What is the spout made of?", []),
    ("What does the article say about the kettle?", []), ("When was the kettle released?", []),
    ("水壶是什么时候发布的？", [])])
def test_a_question_asking_what_a_term_means_names_the_term(question, terms):
    from rag.evidence import asked_terms
    assert asked_terms(question) == terms


@pytest.mark.parametrize("sentence, found", [
    ('"Spout" shall mean the copper opening.', ("Spout", "the copper opening.")),
    ('"Source" form shall mean the preferred form.', ("Source form", "the preferred form.")),
    ('"You" (or "Your") shall mean an individual.', ("You", "an individual.")),
    ('For the purposes of this definition, "control" means the power.', ("control", "the power.")),
    ("1. Definitions.", None), ("The spout is made of copper.", None)])
def test_a_defining_sentence_gives_its_term_and_what_it_means(sentence, found):
    from rag.evidence import defined_term
    assert defined_term(sentence) == found


DEFINITIONS = [(0, "The kettle boils water. Its spout is copper."),
               (1, '1. Definitions.\n"Work" shall mean the kettle as sold.\n'
                   '"Derivative Works" shall mean any work based on the Work.\n"Spout" shall mean the copper opening.')]


def test_a_hard_wrapped_sentence_is_one_sentence_and_a_title_over_its_domain_is_not():
    from rag.evidence import _with_headings
    text = ("The spout is made of copper and the handle of oak, both of them\n  cut by hand in the workshop.\n"
            "Every kettle is tested under the pressure the buyer was promised by the\nMaker.\n"
            "Kettle releases | Orchid Tools\norchid.example\nThe lid is tin.\nIt rattles.")
    assert [text[a:b].strip() for a, b in _with_headings(text)] == [
        "The spout is made of copper and the handle of oak, both of them\n  cut by hand in the workshop.",
        "Every kettle is tested under the pressure the buyer was promised by the\nMaker.",
        "Kettle releases | Orchid Tools", "orchid.example", "The lid is tin.", "It rattles."]


def test_a_term_on_its_own_numbered_line_is_defined_by_the_means_on_the_next():
    from rag.evidence import definition_for
    text = ('1. Definitions\n\n1.3. "Spout"\n    means the copper opening\n    of the Kettle.\n\n'
            '1.4. "Lid"\n\n    means the tin cover.')
    found = definition_for("What does 'Spout' mean?", [(0, text)])
    assert found.sentence == '1.3. "Spout"\n    means the copper opening\n    of the Kettle.'
    assert definition_for("What does 'Lid' mean?", [(0, text)]) is None     # a blank line parts them


@pytest.mark.parametrize("question, defined", [
    ("What does 'Spout' mean?", '"Spout" shall mean'),
    ("What does 'Derivative Works' mean?", '"Derivative Works" shall mean'),
    ("What does Work mean here?", '"Work" shall mean'),
    ("條款裡的「衍生作品」是什麼意思？", '"Derivative Works" shall mean'),   # through the bridge, not "Work"
    ("What does 'Handle' mean?", None), ("Why is the spout copper?", None)])
def test_the_sentence_defining_the_asked_term_is_found(question, defined):
    from rag.evidence import definition_for
    found = definition_for(question, DEFINITIONS, {"derivative": ["衍生"], "works": ["作品"], "work": ["作品"]})
    assert (found.sentence.startswith(defined) and found.key == 1) if defined else found is None
