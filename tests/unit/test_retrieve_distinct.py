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
