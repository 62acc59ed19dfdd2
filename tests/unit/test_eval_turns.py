"""The conversation evaluator asks each turn with the turns before it, scores first turns
and follow-ups apart, and reads only valid sets."""
import json

import pytest

from rag.errors import RagError
from rag.devtools.eval_turns import conversation_rows, summarise
from rag.devtools.evaluate import load_set, only_split
from rag.types import Answer


class RecordingAssistant:
    """Answers "Apache 2.0[1]" only when the history holds the licence question."""
    def __init__(self):
        self.histories = []

    def ask(self, question, history):
        self.histories.append([t.question for t in history])
        knows = any("licence" in t.question for t in history) or "licence" in question
        text = "Apache 2.0[1]" if knows else "I can only answer what the documents support."
        return Answer.from_json({"answer": text, "refused": not knows, "standalone_question": question,
                                 "citations": [{"n": 1, "text": "released under the Apache 2.0 licence"}] if knows
                                 else [], "timings": {"ttft_s": 0.5}})


CONV = {"id": "c1", "language": "en", "turns": [
    {"question": "Which licence?", "in_scope": True, "evidence": ["Apache 2.0 licence"], "facts": [["Apache 2.0"]]},
    {"question": "And commercial use?", "in_scope": True, "evidence": ["Apache 2.0"], "facts": [["Apache"]]},
    {"question": "What does GPT-5 cost?", "in_scope": False}]}


def test_turns_are_asked_with_their_history_and_scored_apart():
    assistant = RecordingAssistant()
    rows = conversation_rows(assistant, [CONV, {"id": "c2", "language": "en", "turns": [
        {"question": "And on phones?", "in_scope": True, "facts": [["phone"]]}]}])
    assert assistant.histories == [[], ["Which licence?"], ["Which licence?", "And commercial use?"], []]
    assert [r["follow_up"] for r in rows] == [False, True, True, False]
    s = summarise(rows)
    assert s["first turns"]["fact_accuracy"] == 0.5 and s["follow-ups"]["fact_accuracy"] == 1.0
    assert s["follow-ups"]["answer_refusal_recall"] == 0.0      # the out-of-scope turn was answered
    assert s["follow-ups by language"] == {"en": 1.0}


def test_conversation_sets_are_checked_when_loaded(tmp_path):
    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps(CONV | {"split": "tune"}) + "\n" + json.dumps(CONV | {"id": "c2", "split": "heldout"}))
    items = load_set(good)
    assert [i["id"] for i in only_split(items, "heldout")] == ["c2"]
    assert [i["id"] for i in only_split(items, None)] == [CONV["id"]]      # the held-out part only when asked
    assert len(only_split(items, "all")) == 2
    with pytest.raises(RagError, match="no items"):
        only_split([{"question": "q", "in_scope": True}], "heldout")
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"id": "x", "turns": [{"question": "no scope"}]}))
    with pytest.raises(RagError, match="turns"):
        load_set(bad)
