"""Crash safety and the write lock.

An ingest is killed with SIGKILL at seeded random moments (during start-up, during
embedding, and between each file-system step of the index write); after every kill the
index must load, checksums verified, holding exactly the old document set or the new
one. A second ingest while one is writing is refused with a clear message, and a killed
writer never leaves the lock stuck."""
from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import FakeEmbedder
from rag import store
from rag.config import Settings
from rag.errors import IndexStoreError
from rag.ingest import ingest

ROOT = Path(__file__).resolve().parents[2]
HELPER = Path(__file__).with_name("_ingest_helper.py")
WORDS = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa "
         "quebec romeo sierra tango uniform victor whiskey xray yankee zulu").split()
KILLS = 24        # kills that must land (a round whose ingest finished first does not count)
MAX_ROUNDS = 60
EMBED_MS = 25     # per batch of 32 chunks: three batches per round
STEP_MS = 15      # pause after each announced file-system step of the write
WRITE_MARKERS = ["write-start", "step fsync", "step rename", "step symlink", "step replace", "step rmtree"]


def _text(rng: random.Random, title: str, paragraphs: int) -> str:
    body = "\n\n".join(" ".join(rng.choice(WORDS) for _ in range(14)).capitalize() + "." for _ in range(paragraphs))
    return f"{title}\n\n{body}\n"


def _note_origins(index_dir: Path) -> set[str]:
    """Load the index the way every reader does (checksums verified) and name its user documents."""
    data = store.load_index(index_dir)
    assert data.faiss_index.ntotal == len(data.chunks) == len(data.vectors)
    assert {c.doc_id for c in data.chunks} <= set(data.documents)
    return {d.origin for d in data.documents.values() if d.kind == "note"}


def _env() -> dict:
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")
    env.pop("PYTHONPATH", None)
    return env


@pytest.fixture
def crash_setup(tmp_path):
    """An index holding the shipped corpus and one user note, and a corpus copy so
    nothing is written into the repository."""
    corpus = tmp_path / "corpus"
    shutil.copytree(ROOT / "corpus", corpus, ignore=shutil.ignore_patterns("cache"))
    settings = Settings.from_env(index_dir=tmp_path / "index", corpus_dir=corpus)
    first = tmp_path / "first"
    first.mkdir()
    rng = random.Random(7)
    (first / "first.txt").write_text(_text(rng, "First note", 8), encoding="utf-8")
    report = ingest(settings, [str(first)], embedder=FakeEmbedder(), progress=False)
    assert report.ok, report.failed
    return settings, rng


def _start(settings: Settings, sources: list[Path], embed_ms: int = EMBED_MS) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(HELPER), str(settings.index_dir), str(settings.corpus_dir), str(embed_ms), str(STEP_MS),
         *map(str, sources)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=_env())


def _wait_for(proc: subprocess.Popen, marker: str, nth: int = 1) -> list[str]:
    """Read markers until the nth line starting with `marker` (or the end); return all read."""
    seen, hits = [], 0
    while True:
        line = proc.stdout.readline()
        if not line:
            return seen
        seen.append(line.strip())
        if line.startswith(marker):
            hits += 1
            if hits == nth:
                return seen


def test_kill_minus_9_at_random_moments_leaves_old_or_new_index(crash_setup, tmp_path):
    settings, rng = crash_setup
    kill_rng = random.Random(20240531)
    old = _note_origins(settings.index_dir)
    started = time.perf_counter()
    outcomes = {"old": 0, "new": 0}
    phases_hit = {"startup": 0, "embed": 0, "write": 0}
    write_rounds = 0
    for round_no in range(MAX_ROUNDS):
        if sum(phases_hit.values()) >= KILLS and phases_hit["embed"] >= 5 and phases_hit["write"] >= 12:
            break
        batch = tmp_path / f"round{round_no:02d}"
        batch.mkdir()
        for j in range(3):      # about 90 chunks: three embedding batches
            (batch / f"r{round_no:02d}-{j}.txt").write_text(
                _text(rng, f"Round {round_no} note {j}", 50), encoding="utf-8")
        new = old | {str(p.resolve()) for p in batch.iterdir()}

        phase = ("startup", "embed", "write", "write")[round_no % 4]
        proc = _start(settings, [batch])
        try:
            if phase == "startup":
                _wait_for(proc, "ready")
                time.sleep(kill_rng.uniform(0, 0.15))
            elif phase == "embed":
                _wait_for(proc, "embed", nth=kill_rng.randint(1, 3))
                time.sleep(kill_rng.uniform(0, EMBED_MS / 1000))
            else:                 # every step of the write in turn, at a random moment within it
                _wait_for(proc, WRITE_MARKERS[write_rounds % len(WRITE_MARKERS)])
                write_rounds += 1
                time.sleep(kill_rng.uniform(0, STEP_MS / 1000))
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            proc.wait(timeout=30)
            proc.stdout.close()
            stderr = proc.stderr.read()
            proc.stderr.close()
        assert proc.returncode in (-signal.SIGKILL, 0), f"round {round_no}: the ingest failed by itself:\n{stderr}"
        if proc.returncode == -signal.SIGKILL:
            phases_hit[phase] += 1

        now = _note_origins(settings.index_dir)
        assert now in (old, new), (f"round {round_no} ({phase}): the index holds neither the old nor the new "
                                   f"documents: missing {sorted(new - now)}, extra {sorted(now - new)}")
        outcomes["old" if now == old else "new"] += 1
        old = now

    print(f"kills by phase: {phases_hit}; index state after each round: {outcomes}")
    assert sum(phases_hit.values()) >= KILLS, phases_hit
    assert phases_hit["embed"] >= 5 and phases_hit["write"] >= 12, phases_hit
    assert outcomes["old"] >= 1 and outcomes["new"] >= 1, outcomes   # kills landed on both sides of the swap

    # After all that, a normal ingest still works and clears what the killed ones left behind.
    last = tmp_path / "last"
    last.mkdir()
    (last / "last.txt").write_text(_text(rng, "Last note", 4), encoding="utf-8")
    report = ingest(settings, [str(last)], embedder=FakeEmbedder(), progress=False)
    assert report.ok and len(report.added) == 1, report.failed
    assert _note_origins(settings.index_dir) == old | {str((last / "last.txt").resolve())}
    left = sorted(p.name for p in settings.index_dir.iterdir() if p.name not in (".lock", store.CURRENT))
    assert left == [store.current_path(settings.index_dir).name], f"leftovers after a clean ingest: {left}"
    assert time.perf_counter() - started < 100


def test_second_ingest_is_refused_while_one_writes_and_a_killed_writer_frees_the_lock(crash_setup, tmp_path):
    settings, rng = crash_setup
    before = _note_origins(settings.index_dir)
    batch = tmp_path / "slow"
    batch.mkdir()
    (batch / "slow.txt").write_text(_text(rng, "Slow note", 6), encoding="utf-8")
    mine = tmp_path / "mine.txt"
    mine.write_text(_text(rng, "My note", 3), encoding="utf-8")

    proc = _start(settings, [batch], embed_ms=30_000)       # holds the lock while it "embeds"
    try:
        assert _wait_for(proc, "embed")[-1].startswith("embed"), "the helper never reached embedding"

        with pytest.raises(IndexStoreError) as caught:
            ingest(settings, [str(mine)], embedder=FakeEmbedder(), progress=False)
        message = str(caught.value)
        assert "another ingest is writing the index" in message and "wait for it to finish" in message
        assert "\n" not in message

        cli = subprocess.run([sys.executable, "-m", "rag", "ingest", "--no-warm", str(mine)], cwd=ROOT,
                             env=dict(_env(), RAG_INDEX_DIR=str(settings.index_dir),
                                      RAG_CORPUS_DIR=str(settings.corpus_dir)),
                             capture_output=True, text=True, timeout=120)
        assert cli.returncode == 2, cli.stderr
        lines = cli.stderr.strip().splitlines()
        assert lines == ["error: another ingest is writing the index right now; wait for it to finish"], cli.stderr
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stdout.close()
        proc.stderr.close()

    assert _note_origins(settings.index_dir) == before          # the refused and the killed ingest changed nothing
    report = ingest(settings, [str(mine)], embedder=FakeEmbedder(), progress=False)   # the lock died with it
    assert report.ok and len(report.added) == 1
    assert _note_origins(settings.index_dir) == before | {str(mine.resolve())}
