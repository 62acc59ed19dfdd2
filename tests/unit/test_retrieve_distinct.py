"""The k passages retrieval returns are k different texts: the same passage in two documents
(a licence added as two files, a page as HTML and as text) takes one place, not two."""
from rag import store
from rag.config import Settings
from rag.ingest import ingest
from rag.retrieve import Retriever
from tests.conftest import FakeEmbedder

PASSAGE = ("Grant of Patent License. Each Quokka Contributor grants You a perpetual, worldwide, "
           "royalty-free patent license to make, use and sell the Kettle Work.")


def test_the_same_passage_in_two_documents_takes_one_place(tmp_path):
    first, second, other = tmp_path / "kettle-licence.md", tmp_path / "kettle-licence-copy.txt", tmp_path / "faq.md"
    first.write_text("# Kettle licence\n\n" + PASSAGE + "\n", encoding="utf-8")
    second.write_text("KETTLE LICENCE (plain text)\n\n    " + PASSAGE.replace(". ", ".\n    ") + "\n", encoding="utf-8")
    other.write_text("# Kettle FAQ\n\nThe kettle patent license covers the Kettle Work's heating plate.\n",
                     encoding="utf-8")
    settings = Settings.from_env(index_dir=tmp_path / "index")
    report = ingest(settings, [str(first), str(second), str(other)], embedder=FakeEmbedder(), progress=False)
    assert report.ok, report.failed
    retriever = Retriever(store.load_index(settings.index_dir), FakeEmbedder(), settings)
    hits = retriever.search("Does the Quokka Contributor grant a patent license for the Kettle Work?", k=3).hits
    same = [h for h in hits if h.doc_id.startswith("kettle-licence")]
    assert len(same) == 1, [h.text[:60] for h in hits]
    assert any("heating plate" in h.text for h in hits) and len(hits) == 3


def test_a_question_naming_a_file_draws_its_passages_up(tmp_path):
    # two versions of one set of terms say nearly the same; "Under Kettle v3" asks about the second
    v2, v3 = tmp_path / "Kettle-2.txt", tmp_path / "Kettle-3.txt"
    v2.write_text("KETTLE TERMS\n\nThe buyer may repair the kettle within 90 days of the notice.\n", encoding="utf-8")
    v3.write_text("KETTLE TERMS\n\nA buyer who is told of a fault may cure it within 30 days.\n", encoding="utf-8")
    settings = Settings.from_env(index_dir=tmp_path / "index")
    assert ingest(settings, [str(v2), str(v3)], embedder=FakeEmbedder(), progress=False).ok
    data = store.load_index(settings.index_dir)
    question = "Under Kettle v3, within how many days may the buyer repair the kettle after the notice?"
    plain = Retriever(data, FakeEmbedder(), Settings.from_env(index_dir=settings.index_dir, named_weight=0.0))
    assert "90 days" in plain.search(question, k=1).hits[0].text          # the other version's words win alone
    named = Retriever(data, FakeEmbedder(), settings)
    assert "30 days" in named.search(question, k=1).hits[0].text
