"""The `chunks` layout (stored per-chunk KV, rag/kvcache.py) without a model: which layout
auto picks, what the prompt holds, how stored pieces are keyed and pruned, and the grown
bench corpus."""
import pytest

from fakes import FakeLocalModel
from rag.devtools.bench_grown import grown_sources
from rag.chat import Assistant
from rag.versions import VersionSwitch
from rag.config import Settings
from rag.errors import SetupError
from rag.ingest import ingest
from rag.kvcache import ChunkKV, piece_key


LocalLikeLLM = FakeLocalModel


@pytest.fixture
def local_assistant(tmp_settings, fake_embedder):
    """Every chunk placed from stored KV (no base), unless a test sets a base budget."""
    ingest(tmp_settings, embedder=fake_embedder, progress=False)
    tmp_settings.chunks_base_tokens = 0
    return Assistant(tmp_settings, llm=LocalLikeLLM(), embedder=fake_embedder)


def _with_base_of(assistant, documents: int):
    """Set the base budget to exactly what the first `documents` documents take."""
    from rag.context import document_ends, full_prompt_of
    end = document_ends(assistant.data)[documents - 1]
    tokens = assistant.llm.count_tokens(full_prompt_of(assistant.data, end)[0])
    assistant.settings.chunks_base_tokens = tokens
    assistant.settings.context_mode = "chunks"
    assistant.context._base = None
    return end


def test_the_base_is_the_leading_documents_that_fit_and_only_later_chunks_are_pieces(local_assistant):
    from rag.context import full_prompt_of
    a = local_assistant
    end = _with_base_of(a, 2)
    assert 0 < end < len(a.data.chunks) and a.context.base_end() == end
    assert len({c.doc_id for c in a.data.chunks[:end]}) == 2
    hits = a.retriever.search("Gemma 4 许可证 Apache 2.0", 8).hits
    positions = [a.data.position(h.chunk_id) for h in hits]
    assert any(p < end for p in positions) and any(p >= end for p in positions)
    ctx = a.build_context("Gemma 4 采用什么许可证？", "zh-Hans", hits, [])
    later = sorted(p for p in positions if p >= end)
    # The base is the full layout's prompt of those documents; retrieved chunks inside it are
    # not repeated, those after it follow as pieces with their index numbers.
    assert ctx.base == full_prompt_of(a.data, end)[0]
    assert ctx.pieces == a.chunk_pieces(later)
    assert ctx.messages[0]["content"] == ctx.base + "".join(ctx.pieces)
    assert ctx.given[:len(positions)] == positions and set(ctx.given) == set(range(end)) | set(positions)
    assert ctx.numbering == {p + 1: p for p in sorted(ctx.given)}
    assert f"参考[{positions[0] + 1}]" in ctx.messages[-1]["content"]
    # Only chunks after the base have stored KV.
    assert a.context.stored_pieces() == a.chunk_pieces(list(range(end, len(a.data.chunks))))


def test_the_base_leaves_room_in_a_small_context(local_assistant):
    from rag.context import PIECES_ROOM
    a = local_assistant
    two = _with_base_of(a, 2)
    # The budget alone would take every document; the context keeps room for pieces and turn.
    a.settings.n_ctx = a.settings.chunks_base_tokens + a.settings.max_tokens + 64 + PIECES_ROOM
    a.settings.chunks_base_tokens = 1_000_000
    a.context._base = None
    assert a.context.base_end() == two


def test_a_base_budget_smaller_than_the_first_document_means_no_base(local_assistant):
    a = local_assistant
    _with_base_of(a, 1)
    a.settings.chunks_base_tokens -= 1
    a.context._base = None
    assert a.context.base_end() == 0 and a.context.base_start(a.llm) is None
    hits = a.retriever.search("Gemma 4 许可证 Apache 2.0", 5).hits
    ctx = a.build_context("Gemma 4 采用什么许可证？", "zh-Hans", hits, [])
    assert ctx.base == "" and len(ctx.pieces) == 5


def test_auto_uses_stored_chunk_kv_beyond_the_full_context_budget(local_assistant):
    s = local_assistant.settings
    s.full_context_max_tokens = 100_000
    assert local_assistant.layout() == "full"
    s.full_context_max_tokens = 100
    local_assistant.context.full_tokens = None
    assert local_assistant.layout() == "chunks"
    s.beyond_full = "retrieval"
    assert local_assistant.layout() == "retrieval"


def test_a_model_server_never_gets_the_chunks_layout(tmp_settings, fake_embedder):
    from tests.unit.test_prefix_and_budget import CountingLLM
    ingest(tmp_settings, embedder=fake_embedder, progress=False)
    tmp_settings.context_mode = "chunks"
    assert Assistant(tmp_settings, llm=CountingLLM(), embedder=fake_embedder).layout() == "retrieval"


def test_bad_beyond_full_setting_names_the_variable(monkeypatch):
    monkeypatch.setenv("RAG_BEYOND_FULL", "everything")
    with pytest.raises(SetupError, match="RAG_BEYOND_FULL.*chunks, retrieval"):
        Settings.from_env()


def test_chunks_context_places_retrieved_chunks_in_index_order_with_index_numbers(local_assistant):
    local_assistant.settings.context_mode = "chunks"
    hits = local_assistant.retriever.search("Gemma 4 许可证 Apache 2.0", 5).hits
    positions = [local_assistant.data.position(h.chunk_id) for h in hits]
    ctx = local_assistant.build_context("Gemma 4 采用什么许可证？", "zh-Hans", hits, [])
    assert ctx.layout == "chunks" and ctx.given == positions
    assert ctx.numbering == {p + 1: p for p in positions}
    assert ctx.pieces == local_assistant.chunk_pieces(sorted(positions))
    assert ctx.messages[0]["content"].endswith("".join(ctx.pieces)) and len(ctx.pieces) == 5
    # Each piece is the chunk under its title, numbered by index position, index order.
    for p, piece in zip(sorted(positions), ctx.pieces):
        assert f"[{p + 1}] " in piece and piece.startswith("\n\n## ")
    assert f"参考[{positions[0] + 1}]" in ctx.messages[-1]["content"]


def test_chunks_context_drops_the_lowest_ranked_first_when_over_budget(local_assistant):
    s = local_assistant.settings
    s.context_mode = "chunks"
    hits = local_assistant.retriever.search("Gemma 4 许可证 Apache 2.0", 8).hits
    s.n_ctx = 10_000
    whole = local_assistant.build_context("Gemma 4 许可证？", "zh-Hans", hits, [])
    s.n_ctx = s.max_tokens + 64 + 700
    cut = local_assistant.build_context("Gemma 4 许可证？", "zh-Hans", hits, [])
    assert 0 < len(cut.given) < 8 and cut.trimmed == 8 - len(cut.given)
    assert cut.given == whole.given[:len(cut.given)]


def test_a_piece_is_the_same_text_whatever_the_question(local_assistant):
    """So its stored KV is reusable: the text depends on the chunk and index only."""
    local_assistant.settings.context_mode = "chunks"
    hits = local_assistant.retriever.search("Gemma 4 许可证 Apache 2.0", 5).hits
    a = local_assistant.build_context("Gemma 4 采用什么许可证？", "zh-Hans", hits, [])
    b = local_assistant.build_context("What license does Gemma 4 use?", "en", hits, [])
    assert a.pieces == b.pieces


def test_piece_key_changes_with_text_and_model_identity():
    assert piece_key("[3] text", "m1") == piece_key("[3] text", "m1")
    assert piece_key("[3] text", "m1") != piece_key("[3] text!", "m1")
    assert piece_key("[3] text", "m1") != piece_key("[4] text", "m1")      # renumbered chunk
    assert piece_key("[3] text", "m1") != piece_key("[3] text", "m2")      # other model or KV type


def test_prune_drops_stored_pieces_no_chunk_needs(tmp_path):
    kv = ChunkKV.__new__(ChunkKV)               # no model needed to key and prune
    kv.dir, kv.ident = tmp_path, "ident"
    keep, gone = "\n\n## Doc\n[1] kept", "\n\n## Doc\n[2] removed"
    for text in (keep, gone):
        kv.path(kv.key(text)).write_bytes(b"x")
    (tmp_path / "other.state").write_bytes(b"y")
    assert kv.prune([keep]) == 1
    assert kv.has(keep) and not kv.has(gone) and (tmp_path / "other.state").exists()


def test_grown_sources_copies_each_licence_once_within_the_cap(tmp_path):
    src = tmp_path / "licences"
    src.mkdir()
    (src / "GPL-3").write_text("GPL three " * 100)
    (src / "GPL").symlink_to(src / "GPL-3")
    (src / "Apache-2.0").write_text("Apache " * 100)
    (src / "MIT-copy").write_text("Apache " * 100)          # same text as Apache-2.0
    out = grown_sources(tmp_path / "out", cap_kb=100, source=src)
    assert sorted(p.name for p in out) == ["Apache-2.0.txt", "GPL-3.txt"]
    assert (tmp_path / "out" / "GPL-3.txt").read_text().startswith("GPL three")
    small = grown_sources(tmp_path / "small", cap_kb=0.8, source=src)
    assert [p.name for p in small] == ["Apache-2.0.txt"]
    assert grown_sources(tmp_path / "none", cap_kb=100, source=tmp_path / "absent") == []


def test_a_cut_or_foreign_chunk_kv_file_is_computed_again(tmp_path):
    kv = ChunkKV.__new__(ChunkKV)
    kv.dir, kv.ident = tmp_path, "ident"
    text = "\n\n## Doc\n[1] body"
    computed = []

    def prepare(texts, progress=None):
        # Stands in for reading the piece with the model: writes a well-formed file.
        import json
        from rag.kvcache import MAGIC
        for t in texts:
            computed.append(t)
            header = json.dumps({"tokens": [1, 2, 3], "start": 7}).encode()
            kv.path(kv.key(t)).write_bytes(MAGIC + len(header).to_bytes(4, "little") + header + b"cells")
        return len(texts)
    kv._prepare_held = prepare                 # load() runs under the model lock, so it calls this
    for damaged in (b"", b"RAGKV1\n\x05\x00\x00\x00{\"tok", b"GGUF whatever"):
        kv.path(kv.key(text)).write_bytes(damaged)
        assert kv.load(text) == ([1, 2, 3], 7, b"cells")
    assert computed == [text] * 3
    assert kv.load(text) == ([1, 2, 3], 7, b"cells") and len(computed) == 3     # a good file is just read


def test_grown_bench_rows_append_under_their_own_table(tmp_path):
    from rag.devtools.bench_grown import _append_row
    doc = tmp_path / "BENCHMARKS.md"
    doc.write_text("# Speed\n\nearlier text\n", encoding="utf-8")
    _append_row(doc, {"date": "d1", "grown_ttft_p50_s": 0.5, "grown_ttft_speedup": 9.1})
    _append_row(doc, {"date": "d2", "grown_ttft_p50_s": 0.6})
    text = doc.read_text(encoding="utf-8")
    assert text.startswith("# Speed\n\nearlier text\n") and text.count("## `rag bench --corpus grown` runs") == 1
    rows = [l for l in text.splitlines() if l.startswith(("| d1 ", "| d2 "))]
    assert rows[0].startswith("| d1 |") and "| 0.5 |" in rows[0] and "| 9.1 |" in rows[0]
    assert rows[1].startswith("| d2 |")


def test_ingest_shows_the_one_time_chunk_cache_cost(monkeypatch, capsys, tmp_settings):
    """`rag ingest` reports each new chunk's KV being read (plain lines off a terminal)."""
    import rag.chat
    from rag.__main__ import _warm

    class Preparing:
        def __init__(self, settings):
            pass

        def layout(self):
            return "chunks"

        def warm(self, progress=None):
            for done in range(1, 41):
                progress(done, 40)
            return "computed 40 chunks"
    monkeypatch.setattr(rag.chat, "Assistant", Preparing)
    _warm(tmp_settings)
    err = capsys.readouterr().err
    assert "reading 40 new chunk(s) once" in err
    assert "prompt cache: 20/40 chunks" in err and "prompt cache: 40/40 chunks" in err
    assert "prompt cache: computed 40 chunks in" in err and "(chunks layout)" in err


def test_a_new_version_beyond_the_budget_prepares_chunk_kv_aside_with_progress(tmp_settings, fake_embedder,
                                                                               tmp_path, monkeypatch):
    """The version switch picks the chunks layout once the corpus outgrows the full budget and
    has the helper read the new chunks, passing its progress lines on."""
    ingest(tmp_settings, embedder=fake_embedder, progress=False)

    class Local(LocalLikeLLM):
        def state_file(self, prefix, state_dir):
            return tmp_path / "never.state"
    assistant = Assistant(tmp_settings, llm=Local(), embedder=fake_embedder)
    tmp_settings.full_context_max_tokens = 100
    jobs, warmed, steps = [], [], []

    def prepare(self, system, version, layout="full", step=None):
        jobs.append(layout)
        step("prompt cache: chunk 1/2 (read once)")
        return "computed 2 chunks"
    monkeypatch.setattr(VersionSwitch, "prepare_aside", prepare)
    monkeypatch.setattr(Assistant, "warm", lambda self, progress=None: warmed.append(self.layout()) or "loaded")
    note = tmp_path / "n.md"
    note.write_text("# 笔记\n\n新的内容让语料变了。", encoding="utf-8")
    ingest(tmp_settings, [str(note)], embedder=fake_embedder, progress=False)
    assert assistant.reload_if_changed(wait=True, on_step=steps.append)
    assert jobs == ["chunks"] and warmed == ["chunks"]
    assert "prompt cache: chunk 1/2 (read once)" in steps
    assert assistant.last_switch["layout"] == "chunks" and assistant.last_switch["prompt_cache"] == "computed 2 chunks"
