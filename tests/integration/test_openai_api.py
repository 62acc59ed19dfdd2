"""`rag serve`'s OpenAI-compatible API through the real `openai` client, real model, embedder
and index: a three-turn conversation (the client holding the history), streaming and not,
each turn answered with citations; and `rag chat` driven through stdin for two turns."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, free_port, requires_real
from rag.config import Settings

openai = pytest.importorskip("openai", reason="pip install the openai pin from requirements.txt")

pytestmark = [pytest.mark.integration, requires_real]

# (question, words one of which the answer must hold, the answer's language). The follow-up may be
# answered from either passage on commercial use ("商业友好许可" or "...企业 POC ..."); both are right.
TURNS = [("Gemma 4 采用什么许可证？", ("Apache 2.0",), "zh-Hans"),
         ("那商业使用呢？", ("商业", "商用", "企业"), "zh-Hans"),                      # a follow-up: only turn 1 gives it a subject
         ("Which model sizes does Gemma 4 come in?", ("E2B",), "en")]


@pytest.fixture(scope="module")
def client(local_server):
    port = free_port()
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    local_server([sys.executable, "-m", "rag", "serve", "--port", str(port)],
                 f"http://127.0.0.1:{port}/v1/models", timeout=240, env=env)
    return openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="local", max_retries=0, timeout=600)


def _check_turn(turn: int, content: str, rag: dict):
    question, facts, language = TURNS[turn]
    assert not rag["refused"], (question, content)
    assert any(f in content for f in facts), (question, content)
    assert rag["language"] == language and rag["question"] == question
    cited = {c["n"] for c in rag["citations"]}
    used = {int(n) for n in re.findall(r"\[(\d+)\]", content)}
    assert used and used <= cited, (question, content, cited)
    assert all(c["text"] for c in rag["citations"])
    if turn == 1:
        # The follow-up was looked up together with the question the client sent before it.
        assert "许可" in rag["standalone_question"], rag["standalone_question"]
        assert any("商业" in c["text"] for c in rag["citations"]), rag["citations"]


def test_models_lists_the_served_model(client):
    ids = [m.id for m in client.models.list()]
    assert ids == [Path(Settings.from_env().model_path).stem]


def test_three_turn_conversation_without_streaming(client):
    messages = [{"role": "system", "content": "You are a helpful assistant."}]
    for turn, (question, _, _) in enumerate(TURNS):
        messages.append({"role": "user", "content": question})
        reply = client.chat.completions.create(model="local", messages=messages)
        content = reply.choices[0].message.content
        assert reply.object == "chat.completion" and reply.choices[0].finish_reason in ("stop", "length")
        assert reply.usage.completion_tokens > 0
        _check_turn(turn, content, reply.rag)
        assert content == reply.rag["answer"]
        messages.append({"role": "assistant", "content": content})


def test_three_turn_conversation_streaming(client):
    messages = []
    for turn, (question, _, _) in enumerate(TURNS):
        messages.append({"role": "user", "content": question})
        text, last, pieces = "", None, 0
        for chunk in client.chat.completions.create(model="local", messages=messages, stream=True):
            if chunk.choices and chunk.choices[0].delta.content:
                text += chunk.choices[0].delta.content
                pieces += 1
            if chunk.choices and chunk.choices[0].finish_reason:
                last = chunk
        assert last is not None and last.rag is not None
        assert pieces > 1                                   # it streamed, not one block at the end
        rag = last.rag
        content = rag["answer"] if rag["revised"] else text
        assert rag["revised"] or text.strip() == rag["answer"].strip()
        _check_turn(turn, content, rag)
        messages.append({"role": "assistant", "content": content})


def test_bad_request_is_an_openai_error(client):
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="local", messages=[{"role": "robot", "content": "hi"}])
    assert "messages[0].role" in str(e.value)


def test_rag_chat_answers_two_turns_from_stdin():
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    proc = subprocess.run([sys.executable, "-m", "rag", "chat"], input="Gemma 4 采用什么许可证？\n那商业使用呢？\n",
                          capture_output=True, text=True, timeout=600, cwd=ROOT, env=env)
    assert proc.returncode == 0, proc.stderr[-800:]
    assert "Traceback" not in proc.stderr
    # Each answer is followed by its citation lines: two answers, two groups of citations.
    groups, in_group = [], False
    for line in proc.stdout.splitlines():
        is_cite = bool(re.match(r"^  \[\d+\] ", line))
        if is_cite and not in_group:
            groups.append([])
        if is_cite:
            groups[-1].append(line)
        in_group = is_cite
    assert len(groups) == 2, proc.stdout
    first, second = proc.stdout.split(groups[0][-1], 1)
    assert "Apache 2.0" in first
    assert "商业" in second
    assert "looked up as: Gemma 4 采用什么许可证" in proc.stderr     # turn 2 used turn 1
    assert proc.stderr.count("s to first token") == 2
