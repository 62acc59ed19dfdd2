"""The OpenAI-compatible /v1 routes over a fake assistant: request and response shapes,
history from `messages`, streaming events, and OpenAI-style errors (never a traceback)."""
import json

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from rag.api import api_router, history_from_messages
from rag.chat import Turn
from rag.config import Settings
from rag.errors import ModelError
from rag.types import Answer, AnswerEvent, TokenEvent


class FakeAssistant:
    """Answers '<question> (after N turns) [1].' as two pieces, citing one chunk; records
    what it was asked and whether its stream was closed."""
    model_name = "fake-model"

    def __init__(self, fail_before=None, fail_after_tokens=None, final_text=None):
        self.settings = Settings.from_env()
        self.calls = []
        self.closed = 0
        self.fail_before, self.fail_after_tokens, self.final_text = fail_before, fail_after_tokens, final_text

    def stream(self, question, history=None, k=None):
        self.calls.append((question, list(history or [])))
        try:
            if self.fail_before:
                raise self.fail_before
            text = f"{question} (after {len(history or [])} turns) [1]."
            yield TokenEvent(text[:5])
            if self.fail_after_tokens:
                raise self.fail_after_tokens
            yield TokenEvent(text[5:])
            yield AnswerEvent(Answer.from_json({
                "question": question, "answer": self.final_text or text, "language": "en", "refused": False,
                "citations": [{"n": 1, "chunk_id": "doc:0", "doc_id": "doc", "title": "A doc", "url": None,
                               "text": "the chunk", "start": 0, "end": 9, "score": 1.0}],
                "retrieved": [], "standalone_question": question,
                "context": {"layout": "retrieval", "prompt_tokens": 120},
                "timings": {"retrieve_s": 0.01, "ttft_s": 0.1, "generate_s": 0.2, "total_s": 0.3,
                            "completion_tokens": 7, "tokens_per_s": 30.0},
                "model": self.model_name}))
        finally:
            self.closed += 1


def _client(assistant):
    app = FastAPI()
    app.include_router(api_router(assistant))
    return TestClient(app)


def _post(client, body):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return client.post("/v1/chat/completions", content=data, headers={"Content-Type": "application/json"})


def _events(response):
    lines = [l[len("data: "):] for l in response.text.split("\n\n") if l.startswith("data: ")]
    return [l if l == "[DONE]" else json.loads(l) for l in lines]


def test_non_streaming_reply_has_the_openai_shape_and_the_rag_answer():
    assistant = FakeAssistant()
    r = _post(_client(assistant), {"model": "anything", "messages": [{"role": "user", "content": "Which licence?"}]})
    assert r.status_code == 200
    body = r.json()
    assert body["object"] == "chat.completion" and body["id"].startswith("chatcmpl-")
    assert body["model"] == "fake-model"
    choice = body["choices"][0]
    assert choice["message"] == {"role": "assistant", "content": "Which licence? (after 0 turns) [1]."}
    assert choice["finish_reason"] == "stop"
    assert body["usage"] == {"prompt_tokens": 120, "completion_tokens": 7, "total_tokens": 127}
    assert body["rag"]["citations"][0]["n"] == 1 and body["rag"]["language"] == "en"
    assert body["rag"]["refused"] is False
    assert assistant.calls == [("Which licence?", [])]


def test_earlier_messages_become_the_history_of_the_last_question():
    assistant = FakeAssistant()
    messages = [{"role": "system", "content": "be brief"},
                {"role": "user", "content": "Gemma 4 采用什么许可证？"},
                {"role": "assistant", "content": "Apache 2.0 [1]。"},
                {"role": "user", "content": [{"type": "text", "text": "那商业使用呢？"}]},
                {"role": "assistant", "content": "可以商用 [2]。"},
                {"role": "user", "content": "and the sizes?"}]
    r = _post(_client(assistant), {"messages": messages})
    assert r.json()["choices"][0]["message"]["content"] == "and the sizes? (after 2 turns) [1]."
    question, history = assistant.calls[0]
    assert question == "and the sizes?"
    assert [(t.question, t.answer) for t in history] == [("Gemma 4 采用什么许可证？", "Apache 2.0 [1]。"),
                                                         ("那商业使用呢？", "可以商用 [2]。")]
    # The follow-up's standalone form is rebuilt as the chat built it at the time.
    assert history[1].standalone == "Gemma 4 采用什么许可证; 那商业使用呢？"


def test_history_drops_unanswered_questions_and_system_messages():
    turns = history_from_messages([("system", "x"), ("user", "q1"), ("user", "q2"), ("assistant", "a2"),
                                   ("assistant", "stray"), ("user", "q3"), ("assistant", "  ")])
    assert [(t.question, t.answer) for t in turns] == [("q2", "a2")]
    assert isinstance(turns[0], Turn)


def test_streaming_sends_role_then_text_then_the_rag_answer_and_done():
    assistant = FakeAssistant()
    r = _post(_client(assistant), {"messages": [{"role": "user", "content": "Which licence?"}], "stream": True,
                                   "stream_options": {"include_usage": True}})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = _events(r)
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    assert all(c["object"] == "chat.completion.chunk" and c["id"] == chunks[0]["id"] for c in chunks)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == "Which licence? (after 0 turns) [1]."
    last = chunks[-2]
    assert last["choices"][0]["finish_reason"] == "stop" and last["choices"][0]["delta"] == {}
    assert last["rag"]["citations"][0]["n"] == 1 and last["rag"]["revised"] is False
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] == 127
    assert assistant.closed == 1


def test_streaming_flags_an_answer_the_citation_check_revised():
    assistant = FakeAssistant(final_text="I could not find that in the documents.")
    events = _events(_post(_client(assistant), {"messages": [{"role": "user", "content": "q?"}], "stream": True}))
    final = events[-2]
    assert final["rag"]["revised"] is True and final["rag"]["answer"] == "I could not find that in the documents."


BAD = [
    (b"{not json", "not valid JSON", None),
    (b"\xff\xfe", "not valid JSON", None),
    ([{"role": "user", "content": "hi"}], "JSON object", None),
    ({"model": "m"}, "non-empty list", "messages"),
    ({"messages": []}, "non-empty list", "messages"),
    ({"messages": "hello"}, "non-empty list", "messages"),
    ({"messages": ["hello"]}, "must be an object", "messages[0]"),
    ({"messages": [{"role": "robot", "content": "hi"}]}, "'robot'", "messages[0].role"),
    ({"messages": [{"role": "tool", "content": "hi"}]}, "tools are not supported", "messages[0].role"),
    ({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]},
     "end \"messages\" with the user's question", "messages[1].role"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]},
     "'image_url' part", "messages[0].content"),
    ({"messages": [{"role": "user", "content": 42}]}, "string or a list of text parts", "messages[0].content"),
    ({"messages": [{"role": "user", "content": "   "}]}, "question is empty", "messages[0].content"),
    ({"messages": [{"role": "user", "content": "x" * 2001}]}, "2,001 characters", "messages[0].content"),
    ({"messages": [{"role": "user", "content": "hi"}], "n": 2}, "\"n\" must be 1", "n"),
    ({"messages": [{"role": "user", "content": "hi"}], "stream": "yes"}, "must be a boolean", "stream"),
    ({"messages": [{"role": "user", "content": "hi"}], "model": 7}, "must be a string", "model"),
]


@pytest.mark.parametrize("body,says,param", BAD)
def test_bad_requests_get_an_openai_error_with_400(body, says, param):
    assistant = FakeAssistant()
    r = _post(_client(assistant), body)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert says in error["message"] and error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert "Traceback" not in r.text and "\n" not in error["message"]
    assert assistant.calls == []                 # the model is never asked


def test_oversized_body_is_refused_with_413():
    r = _post(_client(FakeAssistant()), b" " * 4_000_001)
    assert r.status_code == 413 and "keep it under" in r.json()["error"]["message"]


def test_a_model_failure_is_a_server_error_with_its_message():
    assistant = FakeAssistant(fail_before=ModelError("the prompt needs 7000 tokens; ask a shorter question"))
    r = _post(_client(assistant), {"messages": [{"role": "user", "content": "q?"}], "stream": True})
    assert r.status_code == 500
    assert r.json()["error"] == {"message": "the prompt needs 7000 tokens; ask a shorter question",
                                 "type": "server_error", "param": None, "code": "ModelError"}


def test_a_bug_is_a_500_that_names_only_its_type(caplog):
    assistant = FakeAssistant(fail_before=ZeroDivisionError("secret internals"))
    r = _post(_client(assistant), {"messages": [{"role": "user", "content": "q?"}]})
    assert r.status_code == 500
    assert "ZeroDivisionError" in r.json()["error"]["message"]
    assert "secret internals" not in r.text and "Traceback" not in r.text
    assert "secret internals" in caplog.text           # the operator still sees it in the log


def test_a_failure_midway_through_a_stream_is_an_error_event_and_stops_the_model():
    assistant = FakeAssistant(fail_after_tokens=ModelError("llama.cpp stopped answering"))
    events = _events(_post(_client(assistant), {"messages": [{"role": "user", "content": "q?"}], "stream": True}))
    assert events[1]["choices"][0]["delta"]["content"] == "q? (a"
    assert events[-1] == {"error": {"message": "llama.cpp stopped answering", "type": "server_error",
                                    "param": None, "code": "ModelError"}}
    assert "[DONE]" not in events and assistant.closed == 1


def test_models_lists_the_one_model():
    client = _client(FakeAssistant())
    body = client.get("/v1/models").json()
    assert body["object"] == "list" and [m["id"] for m in body["data"]] == ["fake-model"]
    assert client.get("/v1/models/fake-model").json()["id"] == "fake-model"
    missing = client.get("/v1/models/gpt-4")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "model_not_found"


def test_get_on_chat_completions_says_to_post():
    r = _client(FakeAssistant()).get("/v1/chat/completions")
    assert r.status_code == 405 and "use POST" in r.json()["error"]["message"]
