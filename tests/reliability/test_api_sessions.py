"""The OpenAI-compatible API and the browser chat at once, over real HTTP (uvicorn on a
loopback port) and the real ChatApp/Assistant, with a slow fake model behind the same
generation interface: one model, entered once at a time; every client gets its own answer;
a client that hangs up stops the model."""
import http.client
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import free_port
from rag.api import api_router
from rag.chat import Assistant
from rag.ingest import ingest
from rag.ui import ChatApp
from test_sessions import EchoLLM, NAMES, ORDINALS, _q


class LongLLM(EchoLLM):
    """Like EchoLLM, but an answer of 400 slow pieces; counts the pieces it produced."""

    def __init__(self):
        super().__init__()
        self.pieces = 0

    def generate(self, prompt, max_tokens, stats):
        passage = prompt.split("[1] ", 1)[1].split("\n")[0] if "[1] " in prompt else ""
        with self.lock:
            self.active += 1
            try:
                for _ in range(400):
                    time.sleep(0.01)
                    self.pieces += 1
                    stats.completion_tokens += 1
                    yield passage[:6] + " "
            finally:
                self.active -= 1


@pytest.fixture
def server(tmp_settings, fake_embedder, request):
    import uvicorn
    from fastapi import FastAPI
    ingest(tmp_settings, embedder=fake_embedder, progress=False)
    tmp_settings.context_mode = "retrieval"
    tmp_settings.min_relevance = 0.0
    llm = request.param()
    chat_app = ChatApp(tmp_settings, Assistant(tmp_settings, llm=llm, embedder=fake_embedder))
    app = FastAPI()
    app.include_router(api_router(chat_app.assistant))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    yield chat_app, llm, port
    server.should_exit = True
    thread.join(timeout=10)


def _post(port, body, timeout=60):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    conn.request("POST", "/v1/chat/completions", json.dumps(body), {"Content-Type": "application/json"})
    return conn, conn.getresponse()


def _api_conversation(port, user):
    """Three turns through the real openai client, holding the history itself; the second
    turn streams."""
    import openai
    client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="local", max_retries=0, timeout=60)
    messages, replies = [], []
    for q in range(3):
        messages.append({"role": "user", "content": _q(user, q)})
        if q == 1:
            text, rag = "", None
            for chunk in client.chat.completions.create(model="x", messages=messages, stream=True):
                if chunk.choices and chunk.choices[0].delta.content:
                    text += chunk.choices[0].delta.content
                rag = getattr(chunk, "rag", None) or rag
            content = rag["answer"]
            assert rag["revised"] or text.strip() == content
        else:
            reply = client.chat.completions.create(model="x", messages=messages)
            content = reply.choices[0].message.content
            assert reply.rag["question"] == _q(user, q)
        replies.append(content)
        messages.append({"role": "assistant", "content": content})
    return replies


def _browser_session(chat_app, user):
    messages, turns = [], []
    for q in range(3):
        for messages, turns, _ in chat_app.respond(_q(user, q), messages, turns, "Auto"):
            pass
    return [t["answer"] for t in turns]


@pytest.mark.parametrize("server", [EchoLLM], indirect=True)
def test_api_clients_and_browser_sessions_share_one_model_and_keep_their_own_answers(server):
    chat_app, llm, port = server
    with ThreadPoolExecutor(max_workers=8) as pool:
        api = [pool.submit(_api_conversation, port, u) for u in range(4)]
        ui = [pool.submit(_browser_session, chat_app, u) for u in range(4, 8)]
        results = {u: f.result() for u, f in zip(range(8), api + ui)}
    for user, answers in results.items():
        assert len(answers) == 3
        for q, answer in enumerate(answers):
            assert f"ANSWER({_q(user, q)})" in answer, answer
            others = [NAMES[o] for o in range(8) if o != user]
            assert not any(f"用户{name}" in answer for name in others)
    assert llm.max_active == 1                  # the one model instance is never entered twice


@pytest.mark.parametrize("server", [LongLLM], indirect=True)
def test_a_client_that_hangs_up_mid_stream_frees_the_model(server):
    chat_app, llm, port = server
    conn, response = _post(port, {"messages": [{"role": "user", "content": _q(0, 0)}], "stream": True})
    assert response.status == 200
    seen = b""
    while seen.count(b"data: ") < 3:            # the role chunk and some text
        seen += response.read1(4096)
    conn.sock.shutdown(2)
    conn.close()
    deadline = time.time() + 5
    while llm.active and time.time() < deadline:
        time.sleep(0.05)
    assert llm.active == 0 and llm.pieces < 300, llm.pieces
    # The freed model answers the next client at once.
    conn, response = _post(port, {"messages": [{"role": "user", "content": _q(1, 0)}]}, timeout=30)
    assert response.status == 200 and json.loads(response.read())["rag"]["question"] == _q(1, 0)
    conn.close()
