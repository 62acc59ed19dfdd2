"""Saved conversations (SQLite) and the text forms of answers: what Copy and Export give."""
import sqlite3

import pytest

from rag.conversations import (ConversationError, ConversationStore, answer_markdown, conversation_markdown,
                               stored_answer, valid_browser_id)
from rag.types import Answer

ANSWER = {
    "question": "Gemma 4 采用什么许可证？", "answer": "Gemma 4 采用 Apache 2.0 许可[1]，可以商用[2]。", "language": "zh-Hans",
    "refused": False, "timings": {"ttft_s": 1.2},
    "citations": [
        {"n": 1, "chunk_id": "a:3", "doc_id": "a", "title": "Google 为什么开放 Gemma 4", "url": None, "site": None,
         "text": "Gemma 4 采用商业友好的 Apache 2.0 许可。", "start": 10, "end": 30,
         "document_text": "x" * 5000},
        {"n": 2, "chunk_id": "s:1", "doc_id": "s", "title": "Gemma 4 license", "url": "https://ai.google.dev/gemma",
         "site": "ai.google.dev", "text": "Developers may use Gemma 4 commercially.", "start": 0, "end": 40}],
}


@pytest.fixture
def store(tmp_path):
    return ConversationStore(tmp_path / "data" / "conversations.sqlite3")


def test_conversations_survive_a_restart_and_stay_with_their_browser(tmp_path, store):
    conv = store.add_turn("browser-aaaa", None, "Gemma 4 采用什么许可证？", ANSWER)
    assert store.add_turn("browser-aaaa", conv, "那商业使用呢？", dict(ANSWER, answer="可以[2]。")) == conv
    store.add_turn("browser-bbbb", None, "Which sizes?", ANSWER)
    reopened = ConversationStore(tmp_path / "data" / "conversations.sqlite3")     # a server restart
    mine = reopened.list("browser-aaaa")
    assert [c["title"] for c in mine] == ["Gemma 4 采用什么许可证？"]
    found = reopened.get("browser-aaaa", conv)
    assert [t["question"] for t in found["turns"]] == ["Gemma 4 采用什么许可证？", "那商业使用呢？"]
    assert found["turns"][1]["answer"]["answer"] == "可以[2]。"
    assert reopened.get("browser-bbbb", conv) is None               # another browser cannot open it
    assert [c["title"] for c in reopened.list("browser-bbbb")] == ["Which sizes?"]


def test_store_is_sqlite_in_wal_mode_and_keeps_no_whole_documents(tmp_path, store):
    store.add_turn("browser-aaaa", None, "q", ANSWER)
    db = sqlite3.connect(tmp_path / "data" / "conversations.sqlite3")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    stored = db.execute("SELECT answer FROM turns").fetchone()[0]
    assert "xxxxxxxxxx" not in stored and "Apache 2.0" in stored
    assert "document_text" not in stored_answer(ANSWER)["citations"][0]


def test_rename_and_delete_only_touch_this_browsers_conversation(store):
    conv = store.add_turn("browser-aaaa", None, "q1", ANSWER)
    assert not store.rename("browser-bbbb", conv, "stolen")
    assert store.rename("browser-aaaa", conv, "  Licence   questions ")
    assert store.list("browser-aaaa")[0]["title"] == "Licence questions"
    assert not store.delete("browser-bbbb", conv)
    assert store.delete("browser-aaaa", conv)
    assert store.list("browser-aaaa") == [] and store.get("browser-aaaa", conv) is None
    # a turn for a deleted conversation starts a new one instead of failing
    assert store.add_turn("browser-aaaa", conv, "q2", ANSWER) != conv


def test_a_failed_write_leaves_what_was_stored(store):
    conv = store.add_turn("browser-aaaa", None, "q1", ANSWER)
    with pytest.raises(TypeError):
        store.add_turn("browser-aaaa", conv, "q2", dict(ANSWER, answer="ok", language=object()))
    assert [t["question"] for t in store.get("browser-aaaa", conv)["turns"]] == ["q1"]
    assert len(store.list("browser-aaaa")) == 1


def test_a_damaged_file_is_one_clear_error(tmp_path):
    path = tmp_path / "conversations.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(ConversationError) as e:
        ConversationStore(path)
    assert "\n" not in str(e.value) and "move the file aside" in str(e.value)
    assert path.read_bytes().startswith(b"this is not a database")        # nothing overwritten


def test_copy_text_is_markdown_with_markers_and_sources_not_html():
    text = answer_markdown(Answer.from_json(ANSWER), "Sources")
    assert text.startswith("Gemma 4 采用 Apache 2.0 许可[1]，可以商用[2]。")
    assert "Sources:\n[1] Google 为什么开放 Gemma 4\n[2] Gemma 4 license · ai.google.dev · https://ai.google.dev/gemma" \
        in text
    assert "<" not in text
    assert answer_markdown(Answer("问题", "文档中没有答案。", "zh-Hans")) == "文档中没有答案。"


def test_export_turns_citations_into_footnotes_with_title_site_and_quote(store):
    conv = store.add_turn("browser-aaaa", None, "Gemma 4 采用什么许可证？", ANSWER)
    store.add_turn("browser-aaaa", conv, "还有呢？", {"answer": "一半[1]", "citations": []}, stopped=True)
    md = store.export_markdown("browser-aaaa", conv)
    assert md.startswith("# Gemma 4 采用什么许可证？\n")
    assert "## Gemma 4 采用什么许可证？" in md
    assert "许可[^1-1]，可以商用[^1-2]。" in md
    assert "[^1-1]: Google 为什么开放 Gemma 4: “Gemma 4 采用商业友好的 Apache 2.0 许可。”" in md
    assert ("[^1-2]: Gemma 4 license (ai.google.dev · https://ai.google.dev/gemma): "
            "“Developers may use Gemma 4 commercially.”") in md
    assert "一半[1] *(stopped)*" in md                  # an uncited marker stays as it was
    assert store.export_markdown("browser-bbbb", conv) is None
    assert conversation_markdown({"title": "t", "turns": []}) == "# t\n"


@pytest.mark.parametrize("value,ok", [("3f2a9c1e-1b2c-4d5e-8f90-123456789abc", True), ("abc", False),
                                      ("<script>", False), (None, False), ("a" * 65, False)])
def test_browser_ids_are_checked(value, ok):
    assert valid_browser_id(value) is ok
