"""A sentence that credits a document with its claim ("According to Quokka Weekly, …") cites that
document's passage, not another that repeats the claim (rag/attribution.py, cite.py)."""
import pytest

from rag.attribution import credited_documents, credited_names
from rag.cite import check_answer
from rag.types import Document

DOCS = {"review": Document("review", "Kettles of 2026 - Quokka Weekly", "", site="quokkaweekly.example.com"),
        "summary": Document("summary", "A summary of the kettle news", "", site="news.example.org"),
        "labs": Document("labs", "Quokka Labs announces the kettle", "", site="blog.quokkalabs.example"),
        "shop": Document("shop", "Quokka Labs shop", "", site="shop.quokkalabs.example")}


def test_the_credited_name_is_read_from_the_frames_of_saying():
    assert credited_names("According to Quokka Weekly, the kettle boils in 40 seconds[1].") == ["quokkaweekly"]
    assert credited_names("Quokka Weekly says the kettle boils fast.") == ["quokkaweekly"]
    assert credited_names("Quokka Weekly 说这个水壶很快[1]。") == ["quokkaweekly"]
    assert credited_names("据 Quokka Weekly 的评测介绍，水壶很快。") == ["quokkaweekly"]
    assert credited_names("The kettle boils in 40 seconds[1].") == []


def test_a_name_fits_the_document_by_title_part_or_site_and_only_when_one_fits_best():
    assert credited_documents("According to Quokka Weekly, it is fast.", DOCS) == {"review"}
    assert credited_documents("According to QuokkaWeekly, it is fast.", DOCS) == {"review"}      # its site
    # "Quokka Labs" is in two documents' titles equally: no document is credited
    assert credited_documents("Quokka Labs says it is fast.", DOCS) == set()


def _fits_one_by_one(name, documents):
    # The reading the name index replaces: every document's names, one document at a time.
    from rag.attribution import _squeeze, document_names
    fits = {}
    for doc_id, doc in documents.items():
        shared = [len(n) for n in document_names(doc) if n in name]
        if name in _squeeze(doc.title or ""):
            shared.append(len(name))
        if shared:
            fits[doc_id] = max(shared)
    return fits


def test_the_name_index_fits_names_as_reading_every_document_does():
    from rag.attribution import _names_of
    docs = dict(DOCS)
    docs["cloud"] = Document("cloud", "Kettles available on Quokka Cloud", "", site="cloud.quokka.example")
    docs["untitled"] = Document("untitled", "", "", site=None)
    docs["wiki"] = Document("wiki", "Kettle notes", "", site="wiki.example")       # a name of the shortest length
    names = ["wikikettles", "wiki", "quokkaweekly", "quokkalabs", "quokkalabsshop", "quokkacloud", "quokka", "kettles", "news",
             "kettlesof2026quokkaweekly", "thekettlenews", "asummaryofthekettlenews", "quokkaweeklyreview", "shop"]
    for name in names:
        assert _names_of(docs).fits(name) == _fits_one_by_one(name, docs), name


def test_the_name_index_follows_documents_added_later():
    docs = dict(DOCS)
    assert credited_documents("According to Wombat Daily, it is fast.", docs) == set()
    docs["wombat"] = Document("wombat", "Wombat Daily", "", site="wombatdaily.example.com")
    assert credited_documents("According to Wombat Daily, it is fast.", docs) == {"wombat"}


def test_a_credited_sentence_is_repointed_to_the_credited_documents_chunk():
    summary = "Quokka Weekly found that the kettle boils water in 40 seconds."
    review = "Our test: the kettle boils water in 40 seconds, the fastest we measured. (quokkaweekly.example.com)"
    chunks = {10: summary, 20: review}
    credited = lambda sentence: {20} if credited_documents(sentence, DOCS) == {"review"} else set()
    text = "According to Quokka Weekly, the kettle boils water in 40 seconds[1]."
    checked, added = check_answer(text, {1: summary}, all_chunks=chunks, credited=credited, key_of={1: 10})
    assert checked.text == "According to Quokka Weekly, the kettle boils water in 40 seconds[2]." and added == {2: 20}
    # without the credit, the model's citation stands
    checked, added = check_answer(text, {1: summary}, all_chunks=chunks, key_of={1: 10})
    assert checked.text == text and added == {}


@pytest.mark.parametrize("summary,credited_chunk,text", [
    # the credited document does not back the claim
    ("Quokka Weekly found that the kettle boils water in 40 seconds.",
     "Quokka Weekly reviewed toasters this spring.",
     "According to Quokka Weekly, the kettle boils water in 40 seconds[1]."),
    # the sentence names the document but states nothing its passage could back
    ("Quokka Weekly says the kettle boils water in 40 seconds.",
     "Quokka Weekly reviews kettles. (quokkaweekly.example.com)",
     "Quokka Weekly says so[1]."),
    # the cited chunk states the whole claim; the credited source, kept as a snippet, half of it
    ("Quokka Weekly found that the kettle boils water fast and stays silent.",
     "Quokka Weekly: the kettle boils water. (quokkaweekly.example.com)",
     "According to Quokka Weekly, the kettle boils water fast and stays silent[1]."),
])
def test_the_citation_stays_unless_the_credited_chunk_backs_the_claim_as_well(summary, credited_chunk, text):
    chunks = {10: summary, 20: credited_chunk}
    checked, added = check_answer(text, {1: summary}, all_chunks=chunks, credited=lambda s: {20}, key_of={1: 10})
    assert checked.text == text and added == {}


def test_an_uncited_credited_sentence_gets_the_credited_chunk_only_when_it_backs_the_claim_as_well():
    summary = "Quokka Weekly found that the kettle boils water fast and stays silent."
    text = "According to Quokka Weekly, the kettle boils water fast and stays silent."
    snippet = "Quokka Weekly: the kettle boils water. (quokkaweekly.example.com)"
    _, added = check_answer(text, {}, all_chunks={10: summary, 20: snippet}, credited=lambda s: {20})
    assert list(added.values()) == [10]
    review = "Quokka Weekly: the kettle boils water fast and stays silent. (quokkaweekly.example.com)"
    _, added = check_answer(text, {}, all_chunks={10: summary, 20: review}, credited=lambda s: {20})
    assert list(added.values()) == [20]


def test_a_credited_chunk_backing_the_claim_about_as_well_takes_the_citation():
    # 7 of the claim's 8 words in the credited source, all 8 in the summary: about as well.
    summary = "Quokka Weekly found that the kettle boils water quickly, quietly and safely every morning."
    review = "Our test: the kettle boils water quickly, quietly and safely every time. (quokkaweekly.example.com)"
    text = "According to Quokka Weekly, the kettle boils water quickly, quietly and safely every morning[1]."
    checked, added = check_answer(text, {1: summary}, all_chunks={10: summary, 20: review},
                                  credited=lambda s: {20}, key_of={1: 10})
    assert added == {2: 20}


def test_names_indexed_ahead_are_not_indexed_again_by_an_answer(monkeypatch):
    import rag.attribution as attribution
    docs = dict(DOCS)
    attribution.index_names(docs)
    monkeypatch.setattr(attribution, "_NameIndex", lambda documents: pytest.fail("indexed again by the answer"))
    assert credited_documents("According to Quokka Weekly, it is fast.", docs) == {"review"}


def test_an_index_version_is_name_indexed_when_it_loads(tmp_path, monkeypatch):
    import rag.attribution as attribution
    from rag import store
    from rag.config import Settings
    from rag.ingest import ingest
    from rag.retrieve import Retriever
    from tests.conftest import FakeEmbedder
    page = tmp_path / "quokka-weekly.md"
    page.write_text("# Kettles of 2026 - Quokka Weekly\n\nThe kettle boils in 40 seconds.\n", encoding="utf-8")
    settings = Settings.from_env(index_dir=tmp_path / "index")
    assert ingest(settings, [str(page)], embedder=FakeEmbedder(), progress=False).ok
    data = store.load_index(settings.index_dir)
    Retriever(data, FakeEmbedder(), settings)
    monkeypatch.setattr(attribution, "_NameIndex", lambda documents: pytest.fail("indexed by the answer"))
    page_id = next(d for d, doc in data.documents.items() if "Quokka" in doc.title)
    assert credited_documents("According to Quokka Weekly, it boils fast.", data.documents) == {page_id}


# Which document said something (rag/attribution.py: asks_for_source, sentence_sources).
ARTICLE_TEXT = ("水壶的新闻\n\nQuokka Weekly 说水壶四十秒烧开;Kettle Review 也提到它很安静。[1][2]\n\n"
                "水壶的价格是九十九元。[2] 另一句没有脚注。\n\n没有脚注的一段话,也不提任何来源。\n")
CITING = {**DOCS, "article": Document("article", "水壶的文章", ARTICLE_TEXT, site="Kettle Daily", kind="article",
                                      meta={"sources": {"1": "review", "2": "summary", "3": "missing"}})}


def _chunk_of(doc_id, start=0):
    from rag.types import Chunk
    doc = CITING[doc_id]
    return Chunk(f"{doc_id}-0", doc_id, doc.text[start:], start, len(doc.text))


@pytest.mark.parametrize("question", [
    "Gemma 4 与高通合作的消息，是哪家媒体报道的？", "文中是哪个来源说水壶很安静？", "这个说法出自文章引用的哪个来源？",
    "哪一個來源寫到水壺很安靜？", "哪個網站報導了這件事？", "Which of the article's sources says the kettle is quiet?",
    "Which blog post announced the kettle?", "Who reported that the kettle is quiet?",
    "Which document says the kettle is quiet?", "Which of the documents first mentioned the kettle?",
    "哪一份文件提到水壶很安静？", "是哪篇文章說水壺很安靜？", "这个数字来自哪里？",
    "Where does the article say the figure of forty seconds comes from?", "What is the source of the price?"])
def test_a_question_asking_which_document_said_something(question):
    from rag.attribution import asks_for_source
    assert asks_for_source(question)


@pytest.mark.parametrize("question", [
    "水壶出自哪家公司？", "水壶的研究来源是什么？", "安卓开发者可以通过什么渠道提前试用？", "哪些网站可以下载它？",
    "What does 'Source form' mean?", "Which source code files need a notice?", "What does the article say about the kettle?",
    "Which files must carry a notice that I changed them?", "Which document formats can I upload?",
    "哪些文件需要标注修改？", "可以上传什么文件格式？", "Where does the kettle come from?", "水壶来自哪里？"])
def test_a_question_asking_what_was_said_is_no_source_question(question):
    from rag.attribution import asks_for_source
    assert not asks_for_source(question)


def test_a_footnoted_sentence_comes_from_the_documents_of_the_footnotes_after_it_on_its_line():
    from rag.attribution import sentence_sources
    chunk = _chunk_of("article")
    # the clause names one of the two footnoted documents: that one
    assert sentence_sources("Quokka Weekly 说水壶四十秒烧开;", chunk, CITING) == ["review"]
    # a clause naming neither: both, in footnote order
    assert sentence_sources("Kettle Review 也提到它很安静。[1][2]", chunk, CITING) == ["review", "summary"]
    assert sentence_sources("水壶的价格是九十九元。[2]", chunk, CITING) == ["summary"]
    # no footnote after it on its line, no cited document named: the article itself
    assert sentence_sources("没有脚注的一段话,也不提任何来源。", chunk, CITING) == ["article"]
    # a chunk that starts later in the article finds the sentence in the article's text all the same
    later = ARTICLE_TEXT.index("水壶的价格")
    assert sentence_sources("水壶的价格是九十九元。[2]", _chunk_of("article", later), CITING) == ["summary"]


def test_a_sentence_of_a_document_citing_none_comes_from_that_document():
    from rag.attribution import sentence_sources
    from rag.types import Chunk
    assert sentence_sources("Anything at all.", Chunk("r-0", "review", "Anything at all.", 0, 16), CITING) == ["review"]
    assert sentence_sources("Anything.", Chunk("x-0", "gone", "Anything.", 0, 9), CITING) == []


def test_a_document_is_named_only_by_a_name_no_other_document_goes_by():
    from rag.attribution import named_documents
    assert named_documents("Quokka Weekly 说它很快", DOCS) == {"review"}
    assert named_documents("quokkaweekly.example.com lists it", DOCS) == {"review"}
    # "Quokka Labs" and the site label "quokkalabs" belong to two documents: neither is named
    assert named_documents("Quokka Labs says so", DOCS) == set()
    # a title's headline ("Kettles of 2026") is no name of its publication
    assert named_documents("Kettles of 2026 are fast", DOCS) == set()


def test_the_credit_names_each_document_by_its_publication_and_site_in_the_askers_language():
    from rag.prompt import credit_text
    forum = Document("f", "Kettle 4 - Launch Announcement - Quokka Developers Forum", "", site="discuss.quokka.example")
    cloud = Document("c", "Kettle 4 available on Quokka Cloud", "", site="cloud.quokka.example")
    assert credit_text("zh-Hans", [cloud], 1) == "文档中这一说法出自《Kettle 4 available on Quokka Cloud》（cloud.quokka.example）[1]。"
    assert credit_text("zh-Hant", [forum, cloud], 2) == \
        "文件中這一說法出自 Quokka Developers Forum（discuss.quokka.example）和《Kettle 4 available on Quokka Cloud》（cloud.quokka.example）[2]。"
    assert credit_text("en", [forum, cloud, DOCS["review"]], 1) == (
        'In the documents, this comes from Quokka Developers Forum (discuss.quokka.example), "Kettle 4 available on '
        'Quokka Cloud" (cloud.quokka.example) and Quokka Weekly (quokkaweekly.example.com)[1].')


def test_a_name_is_written_as_a_name_or_as_the_whole_site():
    from rag.attribution import named_documents
    blog = {"os": Document("os", "Kettles: the open story", "", site="opensource.quokkablog.example"),
            "cl": Document("cl", "Kettle 4 on Kettlehost Cloud", "", site="cloud.kettlehost.example")}
    assert named_documents("The Quokka Open Source Blog says so", blog) == {"os"}
    assert named_documents("its commitment to the open-source community", blog) == set()
    assert named_documents("see opensource.quokkablog.example", blog) == {"os"}
    assert named_documents("Kettlehost Cloud 明确说", blog) == {"cl"}
    assert named_documents("runs in the cloud", blog) == set()


def test_a_chinese_credit_quotes_the_claim_it_credits():
    from rag.prompt import credit_text
    weekly = [DOCS["review"]]
    assert credit_text("zh-Hans", weekly, 1, "水壶四十秒烧开") == \
        "文档中，“水壶四十秒烧开”这一说法出自 Quokka Weekly（quokkaweekly.example.com）[1]。"
    assert credit_text("zh-Hant", weekly, 1, "水壺四十秒燒開").startswith("文件中，「水壺四十秒燒開」這一說法出自")
    assert credit_text("en", weekly, 1, "ignored") == "In the documents, this comes from Quokka Weekly (quokkaweekly.example.com)[1]."


@pytest.mark.parametrize("question, rest", [
    ("Quokka Weekly 是怎么描述这个水壶的？", "这个水壶的？"),
    ("According to Quokka Weekly, how fast does it boil?", "how fast does it boil?"),
    ("What word does Quokka Weekly use for the kettle?", "for the kettle?"),
    ("據 Quokka Weekly 的評測，水壺多快？", "水壺多快？")])
def test_a_question_asking_what_a_document_said_names_it(question, rest):
    from rag.attribution import asked_documents
    found, without = asked_documents(question, DOCS)
    assert found == {"review"} and "Quokka Weekly" not in without and without.strip().endswith(rest)


@pytest.mark.parametrize("question", ["文章说水壶很快吗？", "Is the Quokka Weekly kettle fast?",
                                      "Quokka Labs 说水壶很快吗？", "What does the article say about kettles?"])
def test_a_question_naming_no_document_as_a_speaker_asks_none(question):
    from rag.attribution import asked_documents
    assert asked_documents(question, DOCS)[0] == set()


def test_a_sentence_credits_a_document_as_its_own_by_footnote_or_by_name():
    from rag.attribution import credits
    article = _chunk_of("article")
    assert credits("Anything.", _chunk_of("review"), CITING, {"review"})                 # its own
    assert credits("水壶的价格是九十九元。[2]", article, CITING, {"summary"})               # a footnote
    assert credits("Quokka Weekly 说水壶四十秒烧开;", article, CITING, {"review"})         # its name
    assert not credits("没有脚注的一段话,也不提任何来源。", article, CITING, {"review"})
