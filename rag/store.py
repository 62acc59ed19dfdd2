"""The index on disk: FAISS vectors, BM25 data, chunk and document records, all under a
JSON manifest (format version, embedder, chunker settings, document hashes, file
checksums). Each write goes to a new version folder and an atomic symlink swap makes it
current, so a reader sees the old state or the new one, never half of each. No pickle."""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .config import Settings
from .embed import EMBEDDER_DIM, EMBEDDER_NAME
from .errors import IndexStoreError, StaleIndexError
from .files import sha256_file
from .text import tokenize
from .types import Chunk, Document

FORMAT_VERSION = 2
CURRENT = "current"
REBUILD_HINT = "run `rag ingest --rebuild` to rebuild it"
CHUNKER_VERSION = 3          # bump when chunk boundaries change: older indexes are rebuilt


def index_expectations(settings: Settings) -> dict:
    """What an index must have been built with to serve these settings (checked by load_index)."""
    return {"embedder": {"name": EMBEDDER_NAME, "dim": EMBEDDER_DIM},
            "chunker": {"size": settings.chunk_size, "overlap": settings.chunk_overlap, "version": CHUNKER_VERSION}}


@dataclass
class IndexData:
    manifest: dict
    documents: dict[str, Document]
    chunks: list[Chunk]
    vectors: np.ndarray                  # (n_chunks, dim) float32, L2-normalised
    path: Path | None = None
    faiss_index: object = None
    bm25: object = None
    _positions: dict[str, int] = field(default_factory=dict)

    def document_rows(self) -> list[dict]:
        """One row per document for listings (`rag sources`, the Documents tab): its record
        and what the manifest says of it."""
        rows = []
        for doc_id, doc in self.documents.items():
            entry = self.manifest.get("documents", {}).get(doc_id, {})
            rows.append({"doc_id": doc_id, "title": doc.title, "kind": doc.kind, "language": doc.language,
                         "chunks": entry.get("chunks", 0), "updated_at": entry.get("updated_at"),
                         "origin": doc.origin, "url": doc.url, "site": doc.site})
        return rows

    def position(self, chunk_id: str) -> int:
        if not self._positions:
            self._positions = {c.chunk_id: i for i, c in enumerate(self.chunks)}
        return self._positions[chunk_id]

    def positions_of(self, doc_ids: set[str]) -> list[int]:
        """The positions of the chunks of the documents `doc_ids`, in index order."""
        return [i for i, c in enumerate(self.chunks) if c.doc_id in doc_ids]


def content_hash(doc: Document) -> str:
    return hashlib.sha256(f"{doc.title}\x00{doc.text}".encode()).hexdigest()


@contextlib.contextmanager
def write_lock(index_dir: Path):
    """One writer at a time; a second ingest is told so instead of racing."""
    index_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(index_dir / ".lock", os.O_CREAT | os.O_RDWR, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise IndexStoreError("another ingest is writing the index right now; wait for it to finish") from None
        yield
    finally:
        os.close(fd)


def build_search(data: IndexData) -> IndexData:
    """The FAISS inner-product index and the BM25 model, from vectors and chunk tokens."""
    import faiss
    index = faiss.IndexFlatIP(data.vectors.shape[1] if data.vectors.size else int(data.manifest["embedder"]["dim"]))
    if len(data.vectors):
        index.add(data.vectors)
    data.faiss_index = index
    data.bm25 = _build_bm25([_index_text(data, c) for c in data.chunks])
    return data


def _index_text(data: IndexData, chunk: Chunk) -> str:
    doc = data.documents.get(chunk.doc_id)
    return f"{doc.title}\n{chunk.text}" if doc else chunk.text


def _build_bm25(texts: list[str]):
    import bm25s
    model = bm25s.BM25(k1=1.2, b=0.75)
    corpus_tokens = [tokenize(t) or ["\u2205"] for t in texts]
    if corpus_tokens:
        model.index(corpus_tokens, show_progress=False)
    return model


def write_index(index_dir: Path, data: IndexData) -> Path:
    """Write a new version folder, verify it, swap `current` to it, drop old versions."""
    import faiss
    index_dir.mkdir(parents=True, exist_ok=True)
    version = time.strftime("v%Y%m%d-%H%M%S-") + f"{time.time_ns() % 10**9:09d}"
    tmp = index_dir / f".{version}.tmp"
    tmp.mkdir()
    try:
        with open(tmp / "documents.jsonl", "w", encoding="utf-8") as f:
            for doc in data.documents.values():
                f.write(json.dumps(asdict(doc), ensure_ascii=False) + "\n")
        with open(tmp / "chunks.jsonl", "w", encoding="utf-8") as f:
            for c in data.chunks:
                f.write(json.dumps(asdict(c), ensure_ascii=False) + "\n")
        np.save(tmp / "vectors.npy", data.vectors.astype(np.float32), allow_pickle=False)
        if data.faiss_index is None:
            build_search(data)
        faiss.write_index(data.faiss_index, str(tmp / "vectors.faiss"))
        if data.chunks:
            data.bm25.save(str(tmp / "bm25"), show_progress=False)
        files = {str(p.relative_to(tmp)): sha256_file(p) for p in sorted(tmp.rglob("*")) if p.is_file()}
        manifest = dict(data.manifest, format_version=FORMAT_VERSION, version=version, files=files,
                        written_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"), chunk_count=len(data.chunks))
        with open(tmp / "manifest.json", "w", encoding="utf-8") as f:
            json.dump(manifest, f, ensure_ascii=False, indent=1)
            f.flush()
            os.fsync(f.fileno())
        _carry_prompt_cache(index_dir, tmp)
        _fsync_dir(tmp)
        final = index_dir / version
        os.rename(tmp, final)
        link = index_dir / f".{CURRENT}.{version}"
        os.symlink(version, link)
        os.replace(link, index_dir / CURRENT)          # the atomic step
        _fsync_dir(index_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    data.manifest, data.path = manifest, final
    _drop_old_versions(index_dir, keep=version)
    return final


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _carry_prompt_cache(index_dir: Path, tmp: Path) -> None:
    """Hard-link the current version's saved prompt cache (`prefix-*.state`, written beside the
    index by generate.LocalLLM) into the new version as a seed: the new corpus prompt usually
    starts with the old one, so only what differs is read (checked token by token there; the
    seed serves as it stands only when its key, which hashes the prompt text, is the new one's).
    Not listed in the manifest, like the cache itself; where hard links fail, nothing is carried
    and the cache is read whole."""
    current = current_path(index_dir)
    if current is None or not current.is_dir():
        return
    for state in current.glob("prefix-*.state"):
        try:
            os.link(state, tmp / state.name)
        except OSError:
            return


def _drop_old_versions(index_dir: Path, keep: str) -> None:
    for p in index_dir.iterdir():
        if p.name in (keep, CURRENT, ".lock") or p.is_symlink():
            if p.is_symlink() and p.name != CURRENT:
                p.unlink(missing_ok=True)
            continue
        if p.is_dir() and (p.name.startswith("v") or p.name.endswith(".tmp")):
            shutil.rmtree(p, ignore_errors=True)


def current_path(index_dir: Path) -> Path | None:
    link = index_dir / CURRENT
    if not link.exists():
        return None
    return index_dir / os.readlink(link)


def load_index(index_dir: Path, expect: dict | None = None, verify: bool = True) -> IndexData:
    """Load the current version; refuse a missing, mismatching or damaged one."""
    import faiss
    path = current_path(index_dir)
    if path is None:
        raise IndexStoreError(f"no index in {index_dir}: run `rag ingest` (or `make setup`) to build it")
    try:
        manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise IndexStoreError(f"the index manifest is unreadable ({e}); {REBUILD_HINT}") from None
    if manifest.get("format_version") != FORMAT_VERSION:
        raise StaleIndexError(f"the index was written in format {manifest.get('format_version')}, this version "
                              f"reads format {FORMAT_VERSION}; {REBUILD_HINT}")
    for key, want in (expect or {}).items():
        if manifest.get(key) != want:
            raise StaleIndexError(f"the index was built with {key}={manifest.get(key)}, the settings say {want}; "
                                  f"{REBUILD_HINT}")
    if verify:
        for name, digest in manifest.get("files", {}).items():
            p = path / name
            if not p.exists() or sha256_file(p) != digest:
                raise IndexStoreError(f"the index file {name} is damaged or missing; {REBUILD_HINT}")
    try:
        documents = {}
        for line in (path / "documents.jsonl").read_text(encoding="utf-8").splitlines():
            d = Document(**json.loads(line))
            documents[d.doc_id] = d
        chunks = [Chunk(**json.loads(l)) for l in (path / "chunks.jsonl").read_text(encoding="utf-8").splitlines()]
        vectors = np.load(path / "vectors.npy", allow_pickle=False)
        faiss_index = faiss.read_index(str(path / "vectors.faiss"))
    except (OSError, ValueError, TypeError, RuntimeError) as e:
        raise IndexStoreError(f"the index could not be read ({type(e).__name__}); {REBUILD_HINT}") from None
    if len(chunks) != len(vectors) or faiss_index.ntotal != len(chunks):
        raise IndexStoreError(f"the index holds {len(chunks)} chunks but {faiss_index.ntotal} vectors; {REBUILD_HINT}")
    data = IndexData(manifest=manifest, documents=documents, chunks=chunks, vectors=vectors, path=path,
                     faiss_index=faiss_index)
    data.bm25 = _load_bm25(path, data)
    return data


def _load_bm25(path: Path, data: IndexData):
    import bm25s
    if not data.chunks:
        return _build_bm25([])
    try:
        return bm25s.BM25.load(str(path / "bm25"), load_corpus=False, mmap=False, allow_pickle=False)
    except Exception:   # bm25s raises assorted errors on damaged files
        raise IndexStoreError(f"the keyword index could not be read; {REBUILD_HINT}") from None

