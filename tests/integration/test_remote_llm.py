"""Generation through an OpenAI-compatible server (llama-cpp-python's own, on a loopback
port, with the default model): streaming, citations, language and refusal still hold."""
import sys

import pytest

from conftest import free_port, requires_real
from rag.chat import Assistant
from rag.config import Settings
from rag.types import TokenEvent

pytestmark = [pytest.mark.integration, requires_real]


@pytest.fixture(scope="module")
def server_url(local_server):
    pytest.importorskip("sse_starlette", reason="llama-cpp-python[server] extras missing; run make setup")
    settings = Settings.from_env()
    port = free_port()
    url = f"http://127.0.0.1:{port}/v1"
    local_server([sys.executable, "-m", "llama_cpp.server", "--model", str(settings.model_path), "--host", "127.0.0.1",
                  "--port", str(port), "--n_ctx", "4096", "--n_threads", str(settings.n_threads), "--verbose", "False"],
                 url + "/models", timeout=120)
    return url


@pytest.fixture(scope="module")
def remote_assistant(server_url, assistant):
    settings = Settings.from_env(llm_url=server_url, llm_model="default")
    return Assistant(settings, embedder=assistant.embedder)


def test_remote_answer_streams_with_citations(remote_assistant):
    events = list(remote_assistant.stream("Gemma 4 采用什么许可证？"))
    tokens = [e for e in events if isinstance(e, TokenEvent)]
    answer = events[-1].answer
    assert len(tokens) > 3                     # streamed, not one block
    assert not answer.refused and "Apache 2.0" in answer.answer
    assert answer.citations and any("Apache 2.0" in c.text for c in answer.citations)
    assert answer.context.layout == "retrieval"


def test_remote_traditional_answer_and_refusal(remote_assistant):
    answer = remote_assistant.ask("Gemma 4 支援多長的上下文視窗？")
    assert not answer.refused and "256K" in answer.answer and answer.language == "zh-Hant"
    refused = remote_assistant.ask("Llama 4 用什么许可证？")
    assert refused.refused and refused.citations == []
