"""The installed llama.cpp build runs a real batch prefill on this CPU. It runs in a child
process, so a build that uses an instruction this CPU refuses fails this test with the signal
named (for example SIGILL from ggml's AMX path), instead of killing the test run."""
import importlib.util
from pathlib import Path

import pytest

from conftest import requires_real
from rag.config import Settings

pytestmark = [pytest.mark.integration, requires_real]

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("llama_build", ROOT / "scripts" / "llama_build.py")
lb = importlib.util.module_from_spec(spec)
spec.loader.exec_module(lb)


def test_batch_prefill_survives_on_this_cpu():
    settings = Settings.from_env()
    ok, detail = lb.prefill_check(Path(settings.model_path), settings.n_threads)
    assert ok, f"llama.cpp build unusable on this CPU: {detail}; rebuild with `make setup` (docs/DESIGN.md)"
    assert "tokens/s" in detail
