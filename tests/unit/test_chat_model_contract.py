"""One contract for every chat model (rag.llm.ChatModel): the in-process llama.cpp model (with
the real model only), the client of an OpenAI-compatible server (against a loopback fake
server), and the test suite's fakes. What the assistant relies on, checked against each."""
import json
import threading
from http.server import BaseHTTPRequestHandler

import pytest

from conftest import loopback_http, requires_real
from fakes import FakeChatModel, FakeLocalModel
from rag.config import Settings
from rag.llm import ChatModel, GenStats

MESSAGES = [{"role": "system", "content": "Answer in one short sentence."},
            {"role": "user", "content": "What licence does Gemma 4 use?"}]


class ChatServer(BaseHTTPRequestHandler):
    """A minimal /v1/chat/completions that streams one word per event, up to max_tokens."""

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        assert body["stream"] is True and body["messages"][-1]["role"] == "user"
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for word in "Gemma 4 uses the Apache 2.0 licence [1] .".split()[:body["max_tokens"]]:
            event = {"choices": [{"delta": {"content": word + " "}}]}
            self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
        self.wfile.write(b"data: [DONE]\n\n")


@pytest.fixture(params=["fake", "local-fake", "remote",
                        pytest.param("local", marks=[pytest.mark.integration, requires_real])])
def model(request):
    if request.param == "fake":
        yield FakeChatModel()
    elif request.param == "local-fake":
        yield FakeLocalModel()
    elif request.param == "remote":
        from rag.generate import RemoteLLM
        with loopback_http(ChatServer) as url:
            yield RemoteLLM(Settings(llm_url=url, llm_model="fake"))
    else:
        yield request.getfixturevalue("assistant").llm      # the session's loaded model


def test_it_is_a_chat_model(model):
    assert isinstance(model, ChatModel)
    assert isinstance(model.name, str) and model.name and model.n_ctx > 0
    if model.caches_prefix:              # what the prompt cache and stored chunk KV use
        for method in ("render", "split_prefix", "system_prefix", "ensure_prefix", "state_file", "prefix_key",
                       "tokenize", "forget_prefix"):
            assert callable(getattr(model, method)), method


def test_token_counts_grow_with_the_text(model):
    one = model.count_tokens("Gemma 4 的许可证是 Apache 2.0。")
    assert isinstance(one, int) and one > 0
    assert model.count_tokens("Gemma 4 的许可证是 Apache 2.0。" * 10) > one


def test_a_stream_yields_text_and_fills_its_stats(model):
    stats = GenStats()
    pieces = list(model.stream_messages(MESSAGES, 8, stats))
    assert pieces and all(isinstance(p, str) for p in pieces) and "".join(pieces).strip()
    assert 1 <= stats.completion_tokens <= 8
    assert stats.generate_s > 0


def test_closing_a_stream_frees_the_model(model):
    stream = model.stream_messages(MESSAGES, 8, GenStats())
    assert isinstance(next(iter(stream)), str)
    stream.close()
    lock = getattr(model, "lock", None) or threading.Lock()
    assert lock.acquire(timeout=1.0)
    lock.release()
    assert list(model.stream_messages(MESSAGES, 2, GenStats()))      # and it answers again


def test_prefix_warm_up_says_how(model, tmp_path):
    how = model.warm_prefix(MESSAGES[0]["content"], tmp_path)
    assert how.startswith(("loaded", "computed", "warm") if model.caches_prefix else ("not needed",)), how
