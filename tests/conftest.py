"""Shared fixtures. Unit tests use `FakeEmbedder` (deterministic hashed bag of words);
integration tests use the real model, embedder and index built by `make setup`."""
from __future__ import annotations

import contextlib
import hashlib
import os
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from rag.config import Settings  # noqa: E402
from rag.text import tokenize  # noqa: E402


class FakeEmbedder:
    """Hashes keyword tokens into 384 buckets: similar texts get similar vectors, and
    nothing needs a model. Counts calls so tests can see what was (re)embedded."""
    name = "intfloat/multilingual-e5-small"
    dim = 384

    def __init__(self):
        self.embedded: list[str] = []

    def _vector(self, text: str) -> np.ndarray:
        v = np.zeros(self.dim, dtype=np.float32)
        for t in tokenize(text) or ["empty"]:
            v[int(hashlib.md5(t.encode()).hexdigest(), 16) % self.dim] += 1.0
        return v / (np.linalg.norm(v) or 1.0)

    def passages(self, texts):
        self.embedded.extend(texts)
        return np.stack([self._vector(t) for t in texts]) if texts else np.zeros((0, self.dim), np.float32)

    def query(self, text):
        return self._vector(text)


@pytest.fixture
def fake_embedder():
    return FakeEmbedder()


@pytest.fixture
def tmp_settings(tmp_path):
    """Settings whose index lives in a temp dir, reading the real shipped corpus."""
    return Settings.from_env(index_dir=tmp_path / "index")


def real_setup_ready() -> bool:
    s = Settings.from_env()
    return Path(s.model_path).exists() and (Path(s.embedder_path) / "modules.json").exists() \
        and (Path(s.index_dir) / "current").exists()


requires_real = pytest.mark.skipif(not real_setup_ready(), reason="run `make setup` first (models and index)")


@pytest.fixture
def note_assistant(tmp_settings, fake_embedder, tmp_path):
    """`make(note, llm)`: an Assistant over the shipped corpus plus one Markdown note, with
    `llm` as its model (a fake), the retrieval layout and no relevance floor."""
    from rag.chat import Assistant
    from rag.ingest import ingest
    indexed = []

    def make(note: str, llm, **settings):
        if not indexed:
            path = tmp_path / "note.md"
            path.write_text(note, encoding="utf-8")
            ingest(tmp_settings, embedder=fake_embedder, progress=False)
            ingest(tmp_settings, [str(path)], embedder=fake_embedder, progress=False)
            tmp_settings.context_mode = "retrieval"
            tmp_settings.min_relevance = 0.0
            indexed.append(note)
        assert indexed == [note], "one note per test"
        for name, value in settings.items():
            setattr(tmp_settings, name, value)
        return Assistant(tmp_settings, llm=llm, embedder=fake_embedder)
    return make


@pytest.fixture(scope="session")
def assistant():
    """The real assistant (model, embedder, index), loaded once per test session."""
    from rag.chat import Assistant
    a = Assistant(Settings.from_env())
    a.warm()
    return a


@contextlib.contextmanager
def loopback_http(handler):
    """A threaded HTTP server on 127.0.0.1 (a free port) with this handler class; yields its
    base URL and stops it afterwards. Tests never reach any other address."""
    import http.server
    import socketserver
    import threading

    class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
        daemon_threads = True
        allow_reuse_address = True

    httpd = Server(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def cesu8(text: str) -> bytes:
    """Java's and some databases' UTF-8: characters beyond the BMP as two encoded surrogates."""
    out = b""
    for ch in text:
        if ord(ch) > 0xFFFF:
            high, low = divmod(ord(ch) - 0x10000, 0x400)
            out += (chr(0xD800 + high) + chr(0xDC00 + low)).encode("utf-8", "surrogatepass")
        else:
            out += ch.encode()
    return out


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def local_server():
    """Start a command that serves HTTP on a loopback port; yields the wait-until-ready
    call. Every process started is stopped at the end of the module."""
    import subprocess
    import time
    import urllib.request
    started = []

    def start(cmd: list[str], url: str, timeout: float, env: dict | None = None) -> str:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                stdin=subprocess.DEVNULL)
        started.append(proc)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"{cmd[2]} exited: " + proc.stderr.read().decode(errors="replace")[-800:])
            try:
                if urllib.request.urlopen(url, timeout=2).status == 200:
                    return url
            except OSError:
                time.sleep(1)
        pytest.fail(f"{' '.join(cmd[:4])} did not answer within {timeout:.0f} s")

    yield start
    for proc in started:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
