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
