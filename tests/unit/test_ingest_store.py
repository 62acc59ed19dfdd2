import json

import pytest

from rag import store
from rag.errors import IndexStoreError
from rag.ingest import ingest, remove_documents
from rag.store import index_expectations


def test_ingest_builds_a_loadable_index_with_manifest(tmp_settings, fake_embedder):
    report = ingest(tmp_settings, embedder=fake_embedder, progress=False)
    assert report.ok and len(report.added) == 10          # article, 8 sources, the licence
    data = store.load_index(tmp_settings.index_dir, expect=index_expectations(tmp_settings))
    m = data.manifest
    assert m["format_version"] == store.FORMAT_VERSION
    assert m["embedder"] == {"name": "intfloat/multilingual-e5-small", "dim": 384}
    assert m["chunker"]["size"] == tmp_settings.chunk_size
    assert set(m["documents"]) == set(data.documents)
    assert all(len(e["hash"]) == 64 for e in m["documents"].values())
    assert data.faiss_index.ntotal == len(data.chunks) == len(data.vectors)
    assert not list(tmp_settings.index_dir.rglob("*.pkl"))


def test_ingest_skips_unchanged_documents(tmp_settings, fake_embedder):
    ingest(tmp_settings, embedder=fake_embedder, progress=False)
    before = store.current_path(tmp_settings.index_dir)
    fake_embedder.embedded.clear()
    report = ingest(tmp_settings, embedder=fake_embedder, progress=False)
    assert len(report.skipped) == 10 and not report.added and not report.updated
    assert fake_embedder.embedded == []
    assert store.current_path(tmp_settings.index_dir) == before


def test_changed_file_replaces_its_chunks(tmp_settings, fake_embedder, tmp_path):
    note = tmp_path / "note.md"
    note.write_text("# 笔记\n\n我的笔记说 Gemma 4 很好用。这是第一版。", encoding="utf-8")
    ingest(tmp_settings, [str(note)], embedder=fake_embedder, progress=False)
    note.write_text("# 笔记\n\n我的笔记说 Gemma 4 很好用。这是第二版，内容改了。", encoding="utf-8")
    fake_embedder.embedded.clear()
    report = ingest(tmp_settings, [str(note)], embedder=fake_embedder, progress=False)
    assert len(report.updated) == 1
    data = store.load_index(tmp_settings.index_dir)
    texts = [c.text for c in data.chunks if c.doc_id == report.updated[0]]
    assert any("第二版" in t for t in texts) and not any("第一版" in t for t in texts)
    assert all("第二版" in t or "笔记" in t for t in fake_embedder.embedded)


def test_remove_drops_a_document(tmp_settings, fake_embedder, tmp_path):
    note = tmp_path / "keep.txt"
    note.write_text("A note about laptops and local models.", encoding="utf-8")
    report = ingest(tmp_settings, [str(note)], embedder=fake_embedder, progress=False)
    doc_id = report.added[0]
    assert remove_documents(tmp_settings, [doc_id]) == [doc_id]
    data = store.load_index(tmp_settings.index_dir)
    assert doc_id not in data.documents and all(c.doc_id != doc_id for c in data.chunks)


def test_damaged_index_is_refused_with_rebuild_hint(tmp_settings, fake_embedder):
    ingest(tmp_settings, embedder=fake_embedder, progress=False)
    path = store.current_path(tmp_settings.index_dir)
    with open(path / "chunks.jsonl", "a", encoding="utf-8") as f:
        f.write("garbage\n")
    with pytest.raises(IndexStoreError, match="rag ingest --rebuild"):
        store.load_index(tmp_settings.index_dir)


def test_mismatching_embedder_is_refused(tmp_settings, fake_embedder):
    ingest(tmp_settings, embedder=fake_embedder, progress=False)
    with pytest.raises(IndexStoreError, match="rebuild"):
        store.load_index(tmp_settings.index_dir, expect={"embedder": {"name": "other", "dim": 768}})


def test_bad_source_is_reported_and_the_rest_ingested(tmp_settings, fake_embedder, tmp_path):
    good = tmp_path / "good.txt"
    good.write_text("Gemma 4 notes: the E2B size runs on phones.", encoding="utf-8")
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    report = ingest(tmp_settings, [str(good), str(empty), str(tmp_path / "missing.html")],
                    embedder=fake_embedder, progress=False)
    assert any(d.startswith("good-") for d in report.added) and len(report.failed) == 2
    assert any("empty" in f for f in report.failed) and any("no such file" in f for f in report.failed)


def test_rebuild_keeps_user_documents(tmp_settings, fake_embedder, tmp_path):
    note = tmp_path / "mine.md"
    note.write_text("# Mine\n\nMy own words about Gemma.", encoding="utf-8")
    ingest(tmp_settings, embedder=fake_embedder, progress=False)
    added = ingest(tmp_settings, [str(note)], embedder=fake_embedder, progress=False).added
    ingest(tmp_settings, rebuild=True, embedder=fake_embedder, progress=False)
    data = store.load_index(tmp_settings.index_dir)
    assert added[0] in data.documents and "article" in data.documents


def test_a_new_version_carries_the_prompt_cache_as_a_seed_outside_its_manifest(tmp_settings, fake_embedder, tmp_path):
    ingest(tmp_settings, embedder=fake_embedder, progress=False)
    old = store.current_path(tmp_settings.index_dir)
    (old / "prefix-aaaa.state").write_bytes(b"saved prompt cache")
    note = tmp_path / "note.md"
    note.write_text("# 笔记\n\n我的笔记说青石实验室有 37 台机柜。", encoding="utf-8")
    ingest(tmp_settings, [str(note)], embedder=fake_embedder, progress=False)
    new = store.current_path(tmp_settings.index_dir)
    assert new != old and not old.exists()                      # the old version is dropped
    assert (new / "prefix-aaaa.state").read_bytes() == b"saved prompt cache"
    assert "prefix-aaaa.state" not in json.loads((new / "manifest.json").read_text())["files"]
    store.load_index(tmp_settings.index_dir, expect=index_expectations(tmp_settings))   # still verifies
