"""The `chunks` layout on the real model: an added document's fact is answered from its
stored, position-shifted chunk KV (the question turn is all the model reads), and a changed
document's new text is answered, never the stale KV of the old one. Runs on a copy of the
real index, with the real embedder and model."""
import pytest

from conftest import requires_real
from rag.chat import Assistant
from rag.config import Settings
from rag.ingest import ingest

pytestmark = [pytest.mark.integration, requires_real]

NOTE = ("# Kestrel Row warehouse notes\n\n"
        "The Kestrel Row warehouse keeps its spare Gemma 4 servers in bay {bay}.\n\n"
        "The warehouse manager, Ines Okafor, counts the servers every Friday.\n")
OTHER = ("# Harbour office notes\n\n"
         "The harbour office opens at seven and keeps two Gemma 4 laptops for the pilots.\n\n"
         "Its ferry timetable changes every April and every October.\n")


def test_chunks_layout_answers_from_placed_kv_and_never_from_stale_kv(tmp_path, assistant):
    # A small corpus of its own (no shipped documents), so a version switch prepares a few
    # pieces, not the whole shipped corpus's: the layout does not depend on the corpus size.
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "manifest.json").write_text('{"format": 1, "documents": []}', encoding="utf-8")
    settings = Settings.from_env(index_dir=tmp_path / "index", corpus_dir=corpus, context_mode="chunks", max_tokens=60,
                                 chunks_base_tokens=0)
    other = tmp_path / "harbour.md"             # indexed first, so the note's piece is placed after it, shifted
    other.write_text(OTHER, encoding="utf-8")
    note = tmp_path / "kestrel.md"
    note.write_text(NOTE.format(bay="47"), encoding="utf-8")
    assert ingest(settings, [str(other)], embedder=assistant.embedder, progress=False).ok
    assert ingest(settings, [str(note)], embedder=assistant.embedder, progress=False).ok
    user = Assistant(settings, llm=assistant.llm, embedder=assistant.embedder)
    question = "In which bay does the Kestrel Row warehouse keep its spare Gemma 4 servers?"

    first = user.ask(question)
    assert first.context.layout == "chunks"
    assert not first.refused and "47" in first.answer
    assert any("bay 47" in c.text for c in first.citations)
    kv = user.chunk_kv()
    context = user.build_context(question, "en", user.retriever.search(question).hits, [])
    old_keys = {kv.key(p) for p in context.pieces if "bay 47" in p}
    assert old_keys and all(kv.path(k).exists() for k in old_keys)
    # Everything before the question turn came from stored KV, not read for this question.
    placed = len(kv.head_tokens) + sum(len(assistant.llm.tokenize(p)) for p in context.pieces)
    again = user.ask(question)
    assert again.context.cached_tokens >= placed and "47" in again.answer

    note.write_text(NOTE.format(bay="12"), encoding="utf-8")
    assert ingest(settings, [str(note)], embedder=assistant.embedder, progress=False).ok
    assert user.reload_if_changed()
    changed = user.ask(question)
    assert not changed.refused and "12" in changed.answer and "47" not in changed.answer
    kv.prune(user.chunk_pieces(list(range(len(user.data.chunks)))))
    assert not any(kv.path(k).exists() for k in old_keys)          # the old note's KV is gone


def test_the_grown_bench_probe_reads_a_turn_after_placed_pieces(tmp_path, assistant):
    """`rag bench --corpus grown` times a question turn read after N placed tokens while it
    holds the model lock (it once took the plain lock a second time inside and hung for good)."""
    import threading

    from rag.devtools.bench_grown import _turn_after
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "manifest.json").write_text('{"format": 1, "documents": []}', encoding="utf-8")
    settings = Settings.from_env(index_dir=tmp_path / "index", corpus_dir=corpus, context_mode="chunks",
                                 chunks_base_tokens=0)
    note = tmp_path / "harbour.md"
    note.write_text(OTHER, encoding="utf-8")
    assert ingest(settings, [str(note)], embedder=assistant.embedder, progress=False).ok
    user = Assistant(settings, llm=assistant.llm, embedder=assistant.embedder)
    kv = user.chunk_kv()
    filler = user.chunk_pieces([0])[0]
    kv.prepare([filler])
    turn = assistant.llm.tokenize("When does the harbour office open?")
    result = {}
    worker = threading.Thread(target=lambda: result.update(seconds=_turn_after(assistant.llm, kv, filler, 200, turn)),
                              daemon=True)
    worker.start()
    worker.join(120)
    assert not worker.is_alive(), "the probe hung: the model lock was taken twice"
    assert 0 < result["seconds"] < 60
    assert not assistant.llm.lock.locked()


def test_a_cached_base_answers_with_a_later_documents_pieces_placed_after_it(tmp_path, assistant):
    """The grown-corpus layout: the first document stays whole in a cached base, the later
    one's chunks are placed from stored KV after it; both are answered and cited, and the
    second question reads only its own turn."""
    from rag.context import document_ends, full_prompt_of
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "manifest.json").write_text('{"format": 1, "documents": []}', encoding="utf-8")
    settings = Settings.from_env(index_dir=tmp_path / "index", corpus_dir=corpus, context_mode="chunks", max_tokens=60)
    harbour, note = tmp_path / "harbour.md", tmp_path / "kestrel.md"
    harbour.write_text(OTHER, encoding="utf-8")
    note.write_text(NOTE.format(bay="47"), encoding="utf-8")
    assert ingest(settings, [str(harbour)], embedder=assistant.embedder, progress=False).ok
    assert ingest(settings, [str(note)], embedder=assistant.embedder, progress=False).ok
    user = Assistant(settings, llm=assistant.llm, embedder=assistant.embedder)
    end = document_ends(user.data)[0]
    settings.chunks_base_tokens = assistant.llm.count_tokens(full_prompt_of(user.data, end)[0])
    assert user.context.base_end() == end
    assert "computed" in user.warm()
    assert list(user.data.path.glob("prefix-*.state"))              # the base's state, in the version

    question = "In which bay does the Kestrel Row warehouse keep its spare Gemma 4 servers?"
    first = user.ask(question)
    assert first.context.layout == "chunks" and not first.refused
    assert "47" in first.answer and any("bay 47" in c.text for c in first.citations)
    context = user.build_context(question, "en", user.retriever.search(question).hits, [])
    assert context.base and context.pieces and all("Kestrel" in p for p in context.pieces)
    again = user.ask(question)
    base = user.context.base_start(assistant.llm)[0]
    placed = assistant.llm.count_tokens(base) + sum(assistant.llm.count_tokens(p) for p in context.pieces)
    assert again.context.cached_tokens >= placed and "47" in again.answer

    opens = user.ask("When does the harbour office open?")
    assert not opens.refused and "seven" in opens.answer.lower()
    assert any("seven" in c.text for c in opens.citations)
