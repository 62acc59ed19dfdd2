"""8 browser sessions asking 5 questions each at once: everyone gets their own answers
and history, through the real ChatApp/Assistant code, with a deterministic fake model
behind the same generation interface (one lock, like the real one)."""
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from fakes import FakeChatModel
from rag.chat import Assistant
from rag.ingest import ingest
from rag.ui import ChatApp


class EchoLLM(FakeChatModel):
    """Answers 'ANSWER(<question>) <passage 1> [1].', slowly enough
    that requests overlap; refuses nothing. Tracks how many run at once."""
    name = "echo"

    def __init__(self):
        super().__init__()
        self.active = 0
        self.max_active = 0

    def generate(self, prompt, max_tokens, stats):
        question = prompt.rstrip().split("\n")[-2]         # the line above the instruction
        passage = prompt.split("[1] ", 1)[1].split("\n")[0] if "[1] " in prompt else ""
        with self.lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            started = time.perf_counter()
            for piece in ["ANSWER(", question, ") ", passage, " [1]", "."]:
                time.sleep(0.002)
                stats.completion_tokens += 1
                stats.ttft_s = stats.ttft_s or time.perf_counter() - started
                yield piece
            self.active -= 1


@pytest.fixture
def app(tmp_settings, fake_embedder):
    ingest(tmp_settings, embedder=fake_embedder, progress=False)
    tmp_settings.context_mode = "retrieval"
    tmp_settings.min_relevance = 0.0
    llm = EchoLLM()
    return ChatApp(tmp_settings, Assistant(tmp_settings, llm=llm, embedder=fake_embedder)), llm


NAMES = "甲乙丙丁戊己庚辛"
ORDINALS = "一二三四五"


def _q(user: int, q: int) -> str:
    # No digits: the citation check demands that every number in a claim is in its chunk.
    return f"用户{NAMES[user]} 第{ORDINALS[q]}问 Gemma 的许可证"


def _session(app, user: int):
    messages, turns = [], []
    for q in range(5):
        question = _q(user, q)
        for messages, turns, _ in app.respond(question, messages, turns, "Auto"):
            pass
    return messages, turns


def test_eight_concurrent_sessions_keep_their_own_history(app):
    chat_app, llm = app
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda u: _session(chat_app, u), range(8)))
    for user, (messages, turns) in enumerate(results):
        assert len(messages) == 10 and len(turns) == 5
        for q, turn in enumerate(turns):
            assert turn["question"] == _q(user, q)
            assert f"ANSWER({_q(user, q)})" in turn["answer"], turn["answer"]
            assert "用户" not in turn["answer"].replace(f"用户{NAMES[user]}", "")
        user_msgs = [m["content"] for m in messages if m["role"] == "user"]
        assert user_msgs == [_q(user, q) for q in range(5)]
    assert llm.max_active == 1          # the one model instance is never entered twice


def test_new_chat_state_is_per_session(app):
    chat_app, _ = app
    a_msgs, a_turns = _session(chat_app, 1)
    b_msgs, b_turns = [], []
    for b_msgs, b_turns, _ in chat_app.respond("那商业使用呢？", b_msgs, b_turns, "Auto"):
        pass
    assert len(b_turns) == 1 and len(a_turns) == 5
    # A follow-up in a fresh session has no earlier subject to borrow: had the app kept
    # history anywhere but the session's own state, A's question would be folded in here.
    assert b_turns[0]["standalone"] == "那商业使用呢？"
    assert all(f"用户{NAMES[1]}" not in m["content"] for m in b_msgs)


def test_documents_tab_adds_files_and_reports_bad_ones(app, tmp_path):
    chat_app, _ = app
    good = tmp_path / "青柠笔记.md"
    good.write_text("# 青柠笔记\n\n青柠实验室用 Gemma 4 E4B 做客服助手,部署用了三天。", encoding="utf-8")
    bad = tmp_path / "empty.txt"
    bad.write_bytes(b"")
    before = len(chat_app.documents_table())
    rows, report = chat_app.add_documents([str(good), str(bad)], "", "Auto")
    assert len(rows) == before + 1 and any(r[0] == "青柠笔记" for r in rows)
    assert "added 1" in report and "empty.txt" in report and "⚠️" in report
    answer = chat_app.assistant.ask("青柠实验室的客服助手")          # the running app sees the new index
    assert any("青柠" in c.text for c in answer.citations)
