"""File helpers every stage shares: a file's sha256, and a write that a crash or a reader
never sees half done (a temporary file beside the target, then one atomic rename)."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path


def sha256_file(path: Path | str, block: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while data := f.read(block):
            digest.update(data)
    return digest.hexdigest()


def atomic_write(path: Path, *parts: bytes | memoryview, durable: bool = False) -> None:
    """Write `parts` to `path` through `<name>.tmp<pid>` and a rename; `durable` also syncs
    the data to disk before the rename (what a power cut must not lose)."""
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    with open(tmp, "wb") as f:
        for part in parts:
            f.write(part)
        if durable:
            f.flush()
            os.fsync(f.fileno())
    os.replace(tmp, path)
