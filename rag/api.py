"""OpenAI-compatible chat API beside the browser chat: POST /v1/chat/completions (one JSON
reply, or server-sent events with "stream": true) and GET /v1/models. The client sends the
whole conversation; its last user message is the question and the earlier user/assistant
pairs are the history `Assistant.stream` folds into follow-ups. The SPEC answer object
(citations, language, refused, timings) rides in an extra top-level field `rag`. About 300
lines because the request checks and OpenAI's reply, stream and error shapes are one contract,
read together."""
from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Iterator

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from .chat import Turn, standalone_question, validate_question
from .errors import QuestionError, RagError
from .types import Answer, AnswerEvent, TokenEvent

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 4_000_000
ROLES = ("system", "developer", "user", "assistant")


class ApiError(Exception):
    """An error the client caused (or the server hit), answered as OpenAI's error JSON."""

    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None,
                 kind: str = "invalid_request_error"):
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.kind = status, message, param, code, kind

    def to_json(self) -> dict:
        return {"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}}


def error_from(exc: BaseException) -> ApiError:
    """Any exception as an ApiError: a bad question is the client's (400); a model or index
    failure is the server's (500), with its one-line message; a bug names only its type."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, QuestionError):
        return ApiError(400, str(exc), param="messages", code="invalid_question")
    if isinstance(exc, RagError):
        return ApiError(500, str(exc), code=type(exc).__name__, kind="server_error")
    log.error("chat completion failed", exc_info=exc)
    return ApiError(500, f"internal error ({type(exc).__name__}); the server log has the details",
                    kind="server_error")


@dataclass
class ChatRequest:
    question: str
    history: list[Turn]
    stream: bool = False
    include_usage: bool = False


def _content_text(content, where: str) -> str:
    """A message's text: a string, or OpenAI's list of content parts (text parts only)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for i, part in enumerate(content):
            if not (isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str)):
                kind = part.get("type") if isinstance(part, dict) else type(part).__name__
                raise ApiError(400, f"{where}.content[{i}] is a {kind!r} part; this server reads text parts only",
                               param=f"{where}.content")
            texts.append(part["text"])
        return "\n".join(texts)
    raise ApiError(400, f"{where}.content must be a string or a list of text parts", param=f"{where}.content")


def history_from_messages(messages: list[tuple[str, str]]) -> list[Turn]:
    """Earlier (role, text) messages as answered turns. Each question's standalone form is
    rebuilt the way the chat built it then, so a follow-up of a follow-up keeps its subject.
    A question with no answer after it is dropped; system messages are not turns."""
    turns: list[Turn] = []
    question = None
    for role, text in messages:
        if role == "user":
            question = text.strip()
        elif role == "assistant" and question and text.strip():
            turns.append(Turn(question=question, answer=text.strip(),
                              standalone=standalone_question(question, turns)))
            question = None
    return turns


def parse_request(body: bytes, settings) -> ChatRequest:
    """Check a /v1/chat/completions body and turn it into the question and its history."""
    if len(body) > MAX_BODY_BYTES:
        raise ApiError(413, f"the request body is {len(body):,} bytes; keep it under {MAX_BODY_BYTES:,}")
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        raise ApiError(400, f"the request body is not valid JSON ({e}); send a JSON object with a "
                            f"\"messages\" list", code="invalid_json") from None
    if not isinstance(payload, dict):
        raise ApiError(400, "the request body must be a JSON object with a \"messages\" list")
    messages = payload.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ApiError(400, "\"messages\" must be a non-empty list of {\"role\", \"content\"} objects, "
                            "the last one the user's question", param="messages")
    for name, kind in (("model", str), ("stream", bool)):
        if payload.get(name) is not None and not isinstance(payload[name], kind):
            raise ApiError(400, f"\"{name}\" must be a {'string' if kind is str else 'boolean'}", param=name)
    if payload.get("n") not in (None, 1):
        raise ApiError(400, "\"n\" must be 1: the server gives one checked answer per question", param="n")
    parsed = []
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise ApiError(400, f"{where} must be an object with \"role\" and \"content\"", param=where)
        role = message.get("role")
        if role not in ROLES:
            raise ApiError(400, f"{where}.role is {role!r}; use one of {', '.join(ROLES)} (tools are not "
                                f"supported)", param=f"{where}.role")
        parsed.append((role, _content_text(message.get("content"), where)))
    if parsed[-1][0] != "user":
        raise ApiError(400, f"the last message is the {parsed[-1][0]}'s; end \"messages\" with the user's question",
                       param=f"messages[{len(parsed) - 1}].role")
    try:
        question = validate_question(parsed[-1][1], settings)
    except QuestionError as e:
        raise ApiError(400, str(e), param=f"messages[{len(parsed) - 1}].content", code="invalid_question") from None
    options = payload.get("stream_options")
    include_usage = isinstance(options, dict) and options.get("include_usage") is True
    return ChatRequest(question, history_from_messages(parsed[:-1]), bool(payload.get("stream")), include_usage)


# --- responses -------------------------------------------------------------------------------

def usage(answer: Answer) -> dict:
    prompt = int(answer.context.prompt_tokens or 0)
    completion = int(answer.timings.completion_tokens or 0)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def finish_reason(answer: Answer, settings) -> str:
    cut = not answer.refused and answer.timings.completion_tokens >= settings.max_tokens
    return "length" if cut else "stop"


def completion(answer: Answer, completion_id: str, created: int, model: str, settings) -> dict:
    return {"id": completion_id, "object": "chat.completion", "created": created, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": answer.answer},
                         "logprobs": None, "finish_reason": finish_reason(answer, settings)}],
            "usage": usage(answer), "rag": answer.to_json()}


def _sse(data: dict | str) -> str:
    return "data: " + (data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)) + "\n\n"


def stream_chunks(events: Iterator[dict], completion_id: str, created: int, model: str, settings,
                  include_usage: bool = False) -> Iterator[str]:
    """Server-sent events: a role chunk, one chunk per piece of text, then a last chunk with
    the finish reason and `rag` (the checked answer; `rag.revised` is true when its text is
    not what was streamed, as when an unsupported draft became a refusal), then [DONE]. A
    failure midway is an OpenAI error event. Closing this generator stops the model."""
    def chunk(delta: dict, finish: str | None = None, **extra) -> dict:
        return {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model,
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}], **extra}
    streamed, answer = "", None
    try:
        yield _sse(chunk({"role": "assistant", "content": ""}))
        for event in events:
            if isinstance(event, TokenEvent):
                streamed += event.text
                yield _sse(chunk({"content": event.text}))
            elif isinstance(event, AnswerEvent):
                answer = event.answer
        if answer is None:
            raise RuntimeError("the answer stream ended without an answer")
        rag = dict(answer.to_json(), revised=streamed.strip() != answer.answer.strip())
        yield _sse(chunk({}, finish_reason(answer, settings), rag=rag))
        if include_usage:
            yield _sse({"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model,
                        "choices": [], "usage": usage(answer)})
        yield _sse("[DONE]")
    except Exception as e:       # noqa: BLE001 - the client gets one error event, never a traceback
        yield _sse(error_from(e).to_json())
    finally:
        close = getattr(events, "close", None)
        if close:
            close()


def model_card(assistant) -> dict:
    return {"id": assistant.model_name, "object": "model", "created": 0, "owned_by": "local"}


def api_router(assistant) -> APIRouter:
    """The /v1 routes over one Assistant (the one the browser chat uses, so one model)."""
    router = APIRouter(prefix="/v1")

    def error_response(err: ApiError) -> JSONResponse:
        return JSONResponse(err.to_json(), status_code=err.status)

    @router.get("/models")
    def list_models():
        return {"object": "list", "data": [model_card(assistant)]}

    @router.get("/models/{model_id:path}")
    def get_model(model_id: str):
        if model_id != assistant.model_name:
            return error_response(ApiError(404, f"no model {model_id!r}; this server has {assistant.model_name!r}",
                                           param="model", code="model_not_found"))
        return model_card(assistant)

    @router.get("/chat/completions")
    def wrong_method():
        return error_response(ApiError(405, "use POST with a JSON body: {\"model\": ..., \"messages\": [...]}"))

    @router.post("/chat/completions")
    async def chat_completions(request: Request):
        completion_id, created = "chatcmpl-" + uuid.uuid4().hex[:24], int(time.time())
        events = None
        try:
            req = parse_request(await request.body(), assistant.settings)
            events = assistant.stream(req.question, history=req.history)
            # The first event comes after retrieval and the prompt's prefill: an error there
            # (an index or model failure) still gets a proper status code.
            first = await run_in_threadpool(next, events, None)
            if first is None:
                raise RuntimeError("the answer stream ended before it began")
            events = _prepend(first, events)
            model = assistant.model_name
            if req.stream:
                chunks = stream_chunks(events, completion_id, created, model, assistant.settings, req.include_usage)
                return ClosingStreamingResponse(chunks, media_type="text/event-stream",
                                                headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
            answer = await run_in_threadpool(_last_answer, events)
            return completion(answer, completion_id, created, model, assistant.settings)
        except Exception as e:   # noqa: BLE001 - OpenAI-style error JSON, never a traceback
            if events is not None and hasattr(events, "close"):
                events.close()
            return error_response(error_from(e))

    return router


class _Closable:
    """A generator whose close() waits for a next() in flight in another thread (closing a
    running generator is an error), so closing always takes effect, within one token."""

    def __init__(self, generator: Iterator[str]):
        self.generator, self.lock, self.closed = generator, threading.Lock(), False

    def __iter__(self):
        return self

    def __next__(self) -> str:
        with self.lock:
            if self.closed:
                raise StopIteration
            return next(self.generator)

    def close(self) -> None:
        with self.lock:
            self.closed = True
            self.generator.close()


class ClosingStreamingResponse(StreamingResponse):
    """Starlette leaves an unfinished body generator to the garbage collector when the client
    hangs up; ours holds the model's lock, so it is closed as soon as the response ends."""

    def __init__(self, content: Iterator[str], **kwargs):
        self.events = _Closable(content)
        super().__init__(self.events, **kwargs)

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            threading.Thread(target=self.events.close, name="close-answer-stream", daemon=True).start()


def _prepend(first: dict, events: Iterator[dict]) -> Iterator[dict]:
    yield first
    yield from events          # closing this closes `events` too


def _last_answer(events: Iterator[dict]) -> Answer:
    answer = None
    for event in events:
        if isinstance(event, AnswerEvent):
            answer = event.answer
    if answer is None:
        raise RuntimeError("the answer stream ended without an answer")
    return answer
