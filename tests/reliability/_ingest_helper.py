"""A child process for the crash-safety tests: ingests SOURCE... into INDEX_DIR with a
slow fake embedder, printing a marker line before each step worth killing at, so the
parent can `kill -9` it during embedding or in the middle of the index write.

    python _ingest_helper.py INDEX_DIR CORPUS_DIR EMBED_SLEEP_MS STEP_SLEEP_MS SOURCE...

Markers (stdout, one per line, flushed): `ready`, `embed N` before each embedding batch,
`write-start`, `step NAME` before each file-system step of the write (fsync, rename,
symlink, replace, rmtree), `done` at the end. Exit 0 when the ingest reported no failure.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

from rag import store  # noqa: E402
from rag.config import Settings  # noqa: E402
from rag.ingest import ingest  # noqa: E402


def mark(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class SlowFakeEmbedder:
    """Hashed bag of words, like tests/conftest.FakeEmbedder, plus a pause per batch."""
    name = "intfloat/multilingual-e5-small"
    dim = 384

    def __init__(self, sleep_s: float):
        self.sleep_s = sleep_s
        self.batches = 0

    def _vector(self, text: str) -> np.ndarray:
        v = np.zeros(self.dim, dtype=np.float32)
        for word in re.findall(r"\w+", text.lower()) or ["empty"]:
            v[int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dim] += 1.0
        return v / (np.linalg.norm(v) or 1.0)

    def passages(self, texts):
        self.batches += 1
        mark(f"embed {self.batches}")
        time.sleep(self.sleep_s)
        return np.stack([self._vector(t) for t in texts])

    def query(self, text):
        return self._vector(text)


def slowed(name: str, fn, pause: float):
    def wrapper(*args, **kwargs):
        mark(f"step {name}")
        time.sleep(pause)
        return fn(*args, **kwargs)
    return wrapper


def main() -> int:
    index_dir, corpus_dir, embed_ms, step_ms, *sources = sys.argv[1:]
    pause = float(step_ms) / 1000
    # Each file-system step of the atomic write announces itself and then waits a little,
    # so a kill can land between any two of them.
    os.fsync = slowed("fsync", os.fsync, pause)
    os.rename = slowed("rename", os.rename, pause)
    os.symlink = slowed("symlink", os.symlink, pause)
    os.replace = slowed("replace", os.replace, pause)
    shutil.rmtree = slowed("rmtree", shutil.rmtree, pause)
    write_index = store.write_index

    def announced_write(*args, **kwargs):
        mark("write-start")
        return write_index(*args, **kwargs)

    store.write_index = announced_write
    settings = Settings.from_env(index_dir=Path(index_dir), corpus_dir=Path(corpus_dir))
    mark("ready")
    report = ingest(settings, sources, embedder=SlowFakeEmbedder(float(embed_ms) / 1000), progress=False)
    mark("done " + report.summary())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
