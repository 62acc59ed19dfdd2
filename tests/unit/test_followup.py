"""Follow-up resolution decides from wording and the retrieval verdict only: the same
rules hold for a corpus nobody tuned for (here, invented notes about a bakery)."""
from dataclasses import dataclass, field

import pytest

from rag.chat import Turn
from rag.followup import joined, refers_back, resolve


@pytest.mark.parametrize("question", [
    "那商用呢？", "它支持多长的上下文？", "這些模型能在手機上跑嗎？", "那個 E2B 呢？", "另外，价格是多少",
    "Which companies worked on the smaller ones?", "And on phones?", "what about the NOTICE file?",
    "Is it free?", "How big are they?", "這篇文章的標題是什麼？", "那时候呢", "When was that bakery opened?",
    "Who said that?", "What does this clause mean?", "具体是想让面包师做些什么？", "从哪一天开始算？", "要付钱吗？"])
def test_referring_questions_are_recognised(question):
    assert refers_back(question)


@pytest.mark.parametrize("question", [
    "Gemma 4 采用什么许可证？", "我应该在发行时附上什么文件？", "面包需要付费吗？",
    "When was the bakery opened?", "面包店几点开门？", "Which sizes does Gemma 4 come in?",
    "Which breads that use rye are sold?", "Does the menu say that bakers start at five?"])
def test_self_contained_questions_are_not(question):
    assert not refers_back(question)


@dataclass
class FakeRetrieval:
    relevant: bool
    unknown_names: list = field(default_factory=list)
    seconds: float = 0.0


class FakeSearch:
    """Relevant when the query holds one of the corpus words; records each call."""
    def __init__(self, corpus_words, unknown=()):
        self.words, self.unknown, self.calls = corpus_words, unknown, []

    def __call__(self, query, also=None):
        self.calls.append((query, also))
        names = [u for u in self.unknown if u in query]
        return FakeRetrieval(any(w in query.lower() for w in self.words) and not names, names)


BAKERY = [Turn("When does the bakery open?", "At 7 am [1].", "When does the bakery open?")]


def test_a_question_that_finds_nothing_alone_is_tried_with_the_previous_one():
    search = FakeSearch(["bakery"])
    standalone, retrieval = resolve("Why so early?", BAKERY, search)
    assert retrieval.relevant and standalone == "When does the bakery open; Why so early?"
    assert search.calls == [("Why so early?", None), (standalone, "Why so early?")]


def test_a_self_contained_question_keeps_its_own_results():
    search = FakeSearch(["bakery", "bread"])
    standalone, retrieval = resolve("Which bread sells best?", BAKERY, search)
    assert standalone == "Which bread sells best?" and search.calls == [("Which bread sells best?", None)]


def test_a_referring_question_is_searched_joined_with_its_own_words_fused_in():
    search = FakeSearch(["bakery"])
    standalone, _ = resolve("Is it open on Sundays?", BAKERY, search)
    assert search.calls == [("When does the bakery open; Is it open on Sundays?", "Is it open on Sundays?")]


def test_an_out_of_scope_turn_stays_refused():
    search = FakeSearch(["bakery"], unknown=["Starbucks"])
    standalone, retrieval = resolve("Does Starbucks open earlier?", BAKERY, search)
    assert not retrieval.relevant and standalone == "Does Starbucks open earlier?"
    search = FakeSearch(["bakery"])
    standalone, retrieval = resolve("Wie spät ist es?", [Turn("Hallo", "…", "Hallo")], search)
    assert not retrieval.relevant and standalone == "Wie spät ist es?"


def test_a_long_chain_keeps_only_the_last_questions():
    chain = joined("and the fourth?", "first; second; third")
    assert chain == "second; third; and the fourth?"


def test_a_referring_question_after_a_refused_turn_is_searched_on_its_own():
    search = FakeSearch(["bakery", "croissant"], unknown=["Starbucks"])
    refused = [Turn("Does Starbucks sell croissants?", "Sorry …", "Does Starbucks sell croissants?")]
    standalone, retrieval = resolve("And which croissants does the bakery bake?", refused, search)
    assert retrieval.relevant and standalone == "And which croissants does the bakery bake?"


def test_a_referring_question_after_a_refused_turn_continues_the_last_answered_one():
    from rag.prompt import refusal_text
    search = FakeSearch(["bakery"], unknown=["Starbucks"])
    history = [*BAKERY, Turn("And Starbucks?", refusal_text("en"), "And Starbucks?")]
    standalone, retrieval = resolve("Why that early?", history, search)
    assert retrieval.relevant and standalone == "When does the bakery open; Why that early?"
    assert search.calls[0] == ("And Starbucks; Why that early?", "Why that early?")
    # An answered turn in between is what the question follows, as before.
    search = FakeSearch(["bakery"], unknown=["Starbucks"])
    history = [*BAKERY, Turn("And Starbucks?", "Starbucks opens at 6 [1].", "And Starbucks?")]
    standalone, retrieval = resolve("Why that early?", history, search)
    assert not retrieval.relevant and standalone == "Why that early?"


def test_a_date_is_not_a_name_the_documents_lack():
    from rag.retrieve import unknown_names
    corpus = "january15,2026releaseoftranslategemma"
    assert unknown_names("What came out in January 2026?", corpus) == []
    assert unknown_names("What about Llama 4?", corpus) == ["Llama 4"]


@pytest.mark.parametrize("question", ["Which document says developers downloaded it more than 400 million times?",
                                      "Have developers made over 100,000 variants?", "Which sizes are above 4B?",
                                      "What changed in the past 2 years?"])
def test_an_amount_after_a_word_of_quantity_is_not_a_name_the_documents_lack(question):
    from rag.retrieve import unknown_names
    assert unknown_names(question, "developersdownloadedgemma4") == []


@pytest.mark.parametrize("question,name", [("Is it better than Llama 4?", "Llama 4"), ("What about llama 4?", "llama 4"),
                                           ("Is it smaller than gpt-oss 120b?", "gpt-oss 120b"),
                                           ("Does it beat DeepSeek 3 by over 5 points?", "DeepSeek 3")])
def test_a_name_beside_a_word_of_quantity_is_still_a_name(question, name):
    from rag.retrieve import unknown_names
    assert unknown_names(question, "developersdownloadedgemma4") == [name]


def test_an_acronym_of_a_title_the_documents_hold_is_no_unknown_name():
    from rag.retrieve import acronyms, unknown_names
    text = "Mozilla Public License Version 2.0\n3. Grant of Patent License. The Kettle Makers Guild may"
    initials = acronyms(text)
    assert {"MPL", "MPLV", "KMG"} <= initials and "GPL" not in initials      # a small word breaks a run
    corpus = "mozillapubliclicenseversion2.0grantofpatentlicense"
    assert unknown_names("Does the MPL 2.0 allow it?", corpus) == ["MPL 2.0"]
    assert unknown_names("Does the MPL 2.0 allow it?", corpus, initials=initials) == []
    assert unknown_names("Does MPLv2 allow it?", corpus, initials=initials) == []
    assert unknown_names("What does the GPL require?", corpus, initials=initials) == ["GPL"]


class FakeBridge:
    def __init__(self, renderings):
        self.renderings = renderings

    def english_for(self, text):
        return [en for zh, en in self.renderings.items() if zh in text]


@pytest.mark.parametrize("question, unknown", [
    ("What does 'copyleft' mean in the kettle terms?", ["copyleft"]),
    ("What does 'Spouts' mean?", []),                                   # a plural of a word it holds
    ("What does Google's new kettle mean for tea?", []),               # words of a frame, not a quoted term
    ("「壺嘴」是什麼意思？", []),                                         # through the bridge
    ("「傳染性」是什麼意思？", ["传染性"]),
    ("“铜嘴”(spout)是什么意思？", []),                                   # one of its terms is held
    ("Is the spout copper?", [])])
def test_a_term_asked_the_meaning_of_that_the_documents_never_mention_is_unknown(question, unknown):
    from rag.retrieve import unknown_terms
    corpus = "the kettle's spout is copper. 水壶很好。"
    assert unknown_terms(question, corpus, FakeBridge({"壶嘴": "spout"})) == unknown


def test_an_acronym_asked_the_meaning_of_is_known_by_the_title_it_stands_for():
    from rag.retrieve import acronyms, unknown_terms
    text = "The Kettle Makers Guild tests every kettle."
    corpus = "the kettle makers guild tests every kettle."
    assert unknown_terms("What does 'KMG' mean?", corpus, FakeBridge({})) == ["KMG"]
    assert unknown_terms("What does 'KMG' mean?", corpus, FakeBridge({}), acronyms(text)) == []


@pytest.mark.parametrize("origin, stem", [("/home/me/licences/BSD.txt", "BSD"), ("notes/Kettle-2.0.md", "Kettle-2.0"),
                                          ("https://example.com/terms.html", "")])
def test_a_document_is_known_by_its_file_name_not_its_web_address(origin, stem):
    from rag.retrieve import file_stem
    assert file_stem(origin) == stem


@pytest.mark.parametrize("name, read", [("GPL-3", ("gpl", "3")), ("GPLv3", ("gpl", "3")), ("GPL version 3", ("gpl", "3")),
                                        ("MPL-2.0", ("mpl", "2")), ("LGPL-2.1", ("lgpl", "2.1")), ("BSD", ("bsd", "")),
                                        ("CC0-1.0", ("cc0", "1"))])
def test_a_file_name_reads_as_a_name_and_a_version(name, read):
    from rag.retrieve import versioned
    assert versioned(name) == read


FILES = {"k2": ("kettle", "2"), "k3": ("kettle", "3"), "lid": ("lidguide", "1.1"), "notes": ("notes", "")}


@pytest.mark.parametrize("question, named", [
    ("Under Kettle v3, may I sell it?", {"k3"}), ("Does Kettle version 2 allow it?", {"k2"}),
    ("Under Kettle v3, may I sell the kettle?", {"k3"}),
    ("What do the kettle terms say?", {"k2", "k3"}), ("按照 LidGuide 1.1，要做什么？", {"lid"}),
    ("What is in my notes?", {"notes"}), ("Does Kettle 4 allow it?", set()), ("Who makes the spout?", set())])
def test_a_question_names_the_documents_whose_file_name_it_uses(question, named):
    from rag.retrieve import named_files
    assert named_files(question, FILES) == named
