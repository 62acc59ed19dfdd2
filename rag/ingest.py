"""Ingestion: sources -> cleaned documents -> chunks -> embeddings -> a new index version.
Unchanged documents (same content hash) keep their chunks and vectors; a changed one
replaces its chunks; a bad source is reported in one line and the rest go on. Over 300
lines because one ingest is one transaction under the index's write lock (collect, chunk,
embed, write a version, swap), and its crash-safe order is easiest to check in one file."""
from __future__ import annotations

import re
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from . import store
from .chunk import chunk_document
from .config import Settings
from .store import index_expectations
from .embed import EMBEDDER_DIM
from .article import clean_article, load_corpus_manifest, load_shipped_texts
from .errors import IngestError, RagError, StaleIndexError
from .profile import load as load_profile
from .readtext import refuse_wordless
from .sources import LeftOut, expand_sources, load_source
from .types import Chunk, Document



@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)       # one readable line each
    left_out: list[str] = field(default_factory=list)     # files a folder walk did not read, with why
    chunks_embedded: int = 0
    seconds: float = 0.0
    embed_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed

    @property
    def changed(self) -> bool:
        """Whether a new index version was written (only then is a prompt cache to prepare)."""
        return bool(self.added or self.updated or self.removed)

    def summary(self) -> str:
        return (f"added {len(self.added)}, updated {len(self.updated)}, skipped {len(self.skipped)} unchanged, "
                f"removed {len(self.removed)}, failed {len(self.failed)} "
                f"({self.chunks_embedded} chunks embedded in {self.seconds:.1f} s)"
                + (f"; left out {len(self.left_out)} file(s)" if self.left_out else ""))


def shipped_documents(settings: Settings) -> list[Document]:
    corpus = Path(settings.corpus_dir)
    manifest = load_corpus_manifest(corpus)
    article = next((d for d in manifest["documents"] if d["kind"] == "article"), None)
    if article is None:                 # a corpus of plain texts only (no scraped article and its sources)
        return load_shipped_texts(corpus, manifest)
    path = corpus / article["file"]
    try:
        raw = path.read_text(encoding="utf-8")
    except OSError as e:
        raise IngestError(f"{path}: cannot read the shipped article ({e.strerror}); restore it with `git checkout corpus/`")
    return clean_article(raw, manifest, load_profile(str(corpus))) + load_shipped_texts(corpus, manifest)


class Progress:
    """A tqdm bar on a terminal, plain log lines otherwise."""

    def __init__(self, total: int, unit: str, enabled: bool | None = None):
        self.tty = sys.stderr.isatty() if enabled is None else enabled
        self.total, self.done, self.started = total, 0, time.perf_counter()
        self.bar = None
        if self.tty and total:
            from tqdm import tqdm
            self.bar = tqdm(total=total, unit=unit, file=sys.stderr, leave=False, dynamic_ncols=True)

    def step(self, label: str, n: int = 1) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.set_postfix_str(label[-40:])
            self.bar.update(n)

    def log(self, line: str) -> None:
        if self.bar is not None:
            self.bar.write(line)
        else:
            print(line, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def ingest(settings: Settings, sources: list[str] | None = None, *, rebuild: bool = False, prune: bool = False,
           embedder=None, refetch: bool = False, progress: bool | None = None,
           on_event: Callable[[str], None] | None = None) -> IngestReport:
    """Add or refresh documents. `sources` None means the shipped corpus."""
    started = time.perf_counter()
    report = IngestReport()
    index_dir = Path(settings.index_dir)
    expect = index_expectations(settings)
    with store.write_lock(index_dir):
        old = _load_previous(index_dir, expect, rebuild)
        rebuild = rebuild or old is None
        docs: dict[str, Document] = dict(old.documents) if old else {}
        hashes = {d: (old.manifest.get("documents", {}).get(d, {}) if old else {}) for d in docs}
        keep_vectors = _vectors_by_doc(old) if old else {}

        chunked: dict[str, list[Chunk]] = {}      # user documents, chunked while their size was checked
        loaded = _collect(settings, sources, old, rebuild, refetch, report, chunked)
        report.failed = [_one_line(line) for line in report.failed]
        report.left_out = [_one_line(line) for line in report.left_out]
        prog = Progress(len(loaded), "doc", progress)
        new_chunks: dict[str, list[Chunk]] = {}
        for doc in loaded:
            h = store.content_hash(doc)
            prog.step(doc.title)
            if doc.doc_id in docs and hashes.get(doc.doc_id, {}).get("hash") == h and not rebuild:
                report.skipped.append(doc.doc_id)
                continue
            chunks = chunked.pop(doc.doc_id, None) or chunk_document(doc, settings.chunk_size, settings.chunk_overlap)
            (report.updated if doc.doc_id in docs else report.added).append(doc.doc_id)
            docs[doc.doc_id] = doc
            hashes[doc.doc_id] = {"hash": h, "origin": doc.origin, "added_at": hashes.get(doc.doc_id, {}).get(
                "added_at") or _now(), "updated_at": _now()}
            new_chunks[doc.doc_id] = chunks
            keep_vectors.pop(doc.doc_id, None)
        prog.close()
        if prune:
            for doc_id, doc in list(docs.items()):
                if doc.shipped or not doc.origin:
                    continue
                if not doc.origin.startswith(("http://", "https://")) and not Path(doc.origin).exists():
                    report.removed.append(doc_id)
                    docs.pop(doc_id)
                    keep_vectors.pop(doc_id, None)
        for line in report.left_out:
            (on_event or prog.log)(f"left out: {line}")
        for line in report.failed:
            (on_event or prog.log)(f"error: {line}")
        if not (report.added or report.updated or report.removed) and old is not None:
            report.seconds = time.perf_counter() - started
            return report

        texts = [c.text for cs in new_chunks.values() for c in cs]
        embed_started = time.perf_counter()
        if texts:
            embedder = embedder or _load_embedder(settings)
            vectors = _embed(embedder, texts, progress)
        else:
            vectors = np.zeros((0, EMBEDDER_DIM), dtype=np.float32)
        report.embed_seconds = time.perf_counter() - embed_started
        report.chunks_embedded = len(texts)

        chunks, rows, offset = [], [], 0
        for doc_id in docs:
            if doc_id in new_chunks:
                cs = new_chunks[doc_id]
                chunks.extend(cs)
                rows.append(vectors[offset:offset + len(cs)])
                offset += len(cs)
            elif doc_id in keep_vectors:
                cs, vs = keep_vectors[doc_id]
                chunks.extend(cs)
                rows.append(vs)
        per_doc = Counter(c.doc_id for c in chunks)
        for doc_id, entry in hashes.items():
            if doc_id in docs:
                entry["chunks"] = per_doc[doc_id]
        manifest = dict(expect, documents={d: hashes[d] for d in docs})
        all_vectors = np.concatenate(rows) if rows else np.zeros((0, EMBEDDER_DIM), dtype=np.float32)
        data = store.IndexData(manifest=manifest, documents=docs, chunks=chunks, vectors=all_vectors)
        store.build_search(data)
        store.write_index(index_dir, data)
    report.seconds = time.perf_counter() - started
    return report


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def _load_previous(index_dir: Path, expect: dict, rebuild: bool):
    """The current index, or None to start afresh. An index built with other embedder
    or chunker settings is rebuilt (its user documents are re-read); a damaged one is
    refused so nothing is silently lost."""
    if rebuild or store.current_path(index_dir) is None:
        return None
    try:
        return store.load_index(index_dir, expect=expect)
    except StaleIndexError as e:
        print(f"note: {str(e).split(';')[0]}; rebuilding it", file=sys.stderr)
        return None


def _collect(settings, sources, old, rebuild, refetch, report, chunked) -> list[Document]:
    """Load every requested document; each failure becomes one line in the report. User
    documents are chunked here (into `chunked`) so one too large to embed in reasonable
    time is refused before anything is embedded."""
    loaded: list[Document] = []
    if sources is None or rebuild:
        try:
            loaded.extend(shipped_documents(settings))
        except RagError as e:
            report.failed.append(str(e))
    requested = list(sources or [])
    if rebuild and old is None:
        requested += _previous_user_origins(settings)
    max_bytes = int(settings.max_file_mb * 1e6)
    # content hash -> (doc_id, where it came from), for documents already indexed and those read now
    seen_hashes: dict[str, tuple[str, str]] = {}
    if old is not None and not rebuild:
        for doc_id, entry in old.manifest.get("documents", {}).items():
            if entry.get("hash"):
                seen_hashes.setdefault(entry["hash"], (doc_id, f"{entry.get('origin') or doc_id} (already indexed)"))
    for doc in loaded:
        seen_hashes.setdefault(store.content_hash(doc), (doc.doc_id, doc.origin or doc.doc_id))
    loaded_ids = {doc.doc_id for doc in loaded}
    for name, problem in expand_sources(requested):
        if isinstance(problem, LeftOut):
            report.left_out.append(str(problem))
            continue
        if problem:
            report.failed.append(problem)
            continue
        try:
            doc = load_source(name, Path(settings.corpus_dir) / "cache", max_bytes, settings.fetch_timeout_s, refetch)
            refuse_wordless(doc.text, name)
            chunks = chunk_document(doc, settings.chunk_size, settings.chunk_overlap)
            if len(chunks) > settings.max_doc_chunks:
                raise IngestError(_too_many_chunks(name, doc, len(chunks), settings.max_doc_chunks))
        except RagError as e:
            report.failed.append(str(e))
            continue
        except Exception as e:   # a parser bug must not sink the other sources
            report.failed.append(f"{name}: could not be read ({type(e).__name__}: {e}); "
                                 "check the file, or run with --debug for details")
            continue
        h = store.content_hash(doc)
        first = seen_hashes.get(h)
        if first is not None and first[0] != doc.doc_id:
            report.failed.append(f"{name}: the same text as {first[1]}, so it was skipped; "
                                 "remove one of the two copies")
            continue
        if doc.doc_id in loaded_ids:  # the same source named twice
            continue
        seen_hashes.setdefault(h, (doc.doc_id, name))
        chunked[doc.doc_id] = chunks
        loaded_ids.add(doc.doc_id)
        loaded.append(doc)
    return loaded


def _too_many_chunks(name: str, doc: Document, n: int, limit: int) -> str:
    """Embedding runs at tens of chunks per second on a laptop CPU (docs/BENCHMARKS.md), so
    one huge file would hold the ingest for many minutes: it is refused before any of it
    is embedded."""
    return (f"{name}: {len(doc.text) / 1e6:.1f} MB of text makes {n:,} chunks, over the "
            f"{limit:,} chunks allowed per document (embedding them would take many minutes); "
            "split the file into parts or raise RAG_MAX_DOC_CHUNKS")


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _one_line(line: str) -> str:
    """A failure line stays one line even when a file name or a server holds a line break."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], line)


def _previous_user_origins(settings: Settings) -> list[str]:
    """On --rebuild, the user documents the old index held, if it is still readable."""
    import json
    path = store.current_path(Path(settings.index_dir))
    if path is None:
        return []
    origins = []
    try:
        for line in (path / "documents.jsonl").read_text(encoding="utf-8").splitlines():
            doc = json.loads(line)
            shipped = doc.get("kind") in ("article", "source") or (doc.get("meta") or {}).get("shipped")
            if not shipped and doc.get("origin"):
                origins.append(doc["origin"])
    except (OSError, ValueError):
        return []
    return origins


def _vectors_by_doc(old: store.IndexData) -> dict[str, tuple[list[Chunk], np.ndarray]]:
    out: dict[str, tuple[list[Chunk], list[int]]] = {}
    for i, c in enumerate(old.chunks):
        out.setdefault(c.doc_id, ([], []))
        out[c.doc_id][0].append(c)
        out[c.doc_id][1].append(i)
    return {d: (cs, old.vectors[idx]) for d, (cs, idx) in out.items()}


def _load_embedder(settings: Settings):
    from .embed import Embedder
    return Embedder(Path(settings.embedder_path), threads=settings.n_threads)


ESTIMATE_FROM_CHUNKS = 256      # embedding this many chunks or more gets a time estimate
ESTIMATE_EVERY_S = 30.0


def _embed(embedder, texts: list[str], progress: bool | None) -> np.ndarray:
    """Embed in batches. A large run says after its first batch how long the rest will
    take, and (without a progress bar) again every ESTIMATE_EVERY_S seconds."""
    batch = 32
    prog = Progress(len(texts), "chunk", progress)
    parts = []
    started = last_note = time.perf_counter()
    for i in range(0, len(texts), batch):
        parts.append(embedder.passages(texts[i:i + batch]))
        prog.step(f"{i + len(parts[-1])}/{len(texts)}", len(parts[-1]))
        done, now = i + len(parts[-1]), time.perf_counter()
        if len(texts) >= ESTIMATE_FROM_CHUNKS and done < len(texts) and (
                i == 0 or (prog.bar is None and now - last_note >= ESTIMATE_EVERY_S)):
            rate = done / max(now - started, 1e-6)
            prog.log(f"embedding {len(texts):,} chunks: {done:,} done, about {_duration((len(texts) - done) / rate)} "
                     f"left at {rate:.0f} chunks/s")
            last_note = now
    prog.close()
    return np.concatenate(parts).astype(np.float32)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def remove_documents(settings: Settings, doc_ids: list[str]) -> list[str]:
    """Drop documents by id (or by origin path/URL); returns what was removed."""
    index_dir = Path(settings.index_dir)
    with store.write_lock(index_dir):
        data = store.load_index(index_dir, expect=index_expectations(settings))
        wanted = set(doc_ids)
        gone = [d for d, doc in data.documents.items() if d in wanted or (doc.origin in wanted)]
        missing = wanted - set(gone) - {data.documents[d].origin for d in gone}
        if missing:
            raise IngestError(f"no document {', '.join(sorted(missing))} in the index; `rag sources` lists them")
        keep = [i for i, c in enumerate(data.chunks) if c.doc_id not in gone]
        docs = {d: doc for d, doc in data.documents.items() if d not in gone}
        manifest = dict(data.manifest, documents={d: e for d, e in data.manifest["documents"].items() if d in docs})
        new = store.IndexData(manifest=manifest, documents=docs, chunks=[data.chunks[i] for i in keep],
                              vectors=data.vectors[keep] if keep else data.vectors[:0])
        store.build_search(new)
        store.write_index(index_dir, new)
    return gone
