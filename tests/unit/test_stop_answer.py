"""Stop: the generation loop checks a cancel flag, so a stopped answer frees the model
(and its lock) within half a second; the chat keeps the text shown so far, marked as
stopped, and hands the turn over to be saved. A tab's second question waits its turn."""
import threading
import time

import pytest

from fakes import FakeChatModel
from rag.chat import Assistant
from rag.ingest import ingest
from rag.ui import ChatApp
from rag.ui_session import StreamControl
from rag.types import TokenEvent


class EndlessLLM(FakeChatModel):
    """Streams 'Apache 2.0 [1] ' forever, one piece per 50 ms, holding its lock like the
    real model; records when the lock was released."""
    name = "endless"

    def __init__(self):
        super().__init__()
        self.released_at = None
        self.pieces = 0

    def generate(self, prompt, max_tokens, stats):
        with self.lock:
            try:
                while True:
                    time.sleep(0.05)
                    self.pieces += 1
                    stats.completion_tokens += 1
                    yield "Apache 2.0 [1] " if self.pieces % 2 else "许可。"
            finally:
                self.released_at = time.perf_counter()


@pytest.fixture(scope="module")
def index_settings(tmp_path_factory):
    from conftest import FakeEmbedder
    from rag.config import Settings
    settings = Settings.from_env(index_dir=tmp_path_factory.mktemp("stop") / "index")
    embedder = FakeEmbedder()
    ingest(settings, embedder=embedder, progress=False)
    settings.context_mode, settings.min_relevance, settings.max_tokens = "retrieval", 0.0, 100_000
    return settings, embedder


@pytest.fixture
def app(index_settings):
    settings, embedder = index_settings
    llm = EndlessLLM()
    return ChatApp(settings, Assistant(settings, llm=llm, embedder=embedder)), llm


def test_cancel_frees_the_model_within_half_a_second(app):
    chat_app, llm = app
    cancel = threading.Event()
    events = chat_app.assistant.stream("Gemma 4 采用什么许可证？", cancel=cancel)
    seen = []

    def consume():
        for event in events:
            seen.append(event)
    worker = threading.Thread(target=consume)
    worker.start()
    while llm.pieces < 5:
        time.sleep(0.01)
    asked = time.perf_counter()
    cancel.set()
    worker.join(timeout=5)
    assert not worker.is_alive()
    assert llm.released_at is not None and llm.released_at - asked < 0.5
    assert llm.lock.acquire(timeout=0.1)            # free for the next question
    llm.lock.release()
    assert seen and all(isinstance(e, TokenEvent) for e in seen)      # no answer event for a stopped stream


def test_stopped_answer_keeps_its_text_marked_and_is_handed_over(app):
    chat_app, llm = app
    cancel = threading.Event()
    handed = []
    steps = chat_app.respond("Gemma 4 采用什么许可证？", [], [], "English", cancel=cancel,
                             on_answer=lambda q, a, stopped: handed.append((q, a, stopped)))
    last = None
    for messages, turns, _ in steps:
        last = messages, turns
        if "Apache" in messages[-1]["content"] and llm.pieces >= 4:
            cancel.set()
    messages, turns = last
    assert 'class="stopped">stopped<' in messages[-1]["content"]
    assert "Apache 2.0" in messages[-1]["content"]
    assert 'class="copy-md"' in messages[-1]["content"]
    assert len(turns) == 1 and turns[0]["answer"].startswith("Apache 2.0")
    assert handed and handed[0][0] == "Gemma 4 采用什么许可证？" and handed[0][2] is True
    assert handed[0][1].answer.startswith("Apache 2.0")
    assert llm.lock.acquire(timeout=0.5)
    llm.lock.release()


def test_closing_the_chat_stream_frees_the_model(app):
    """A page closed mid-answer (Gradio closes the event's generator) frees the lock too."""
    chat_app, llm = app
    steps = chat_app.respond("Gemma 4 采用什么许可证？", [], [], "English")
    for messages, _, _ in steps:
        if llm.pieces >= 3:
            break
    steps.close()
    assert llm.lock.acquire(timeout=0.5)
    llm.lock.release()


def test_a_tab_takes_one_question_at_a_time_and_new_chat_discards():
    control = StreamControl()
    assert control.begin()
    assert not control.begin()                   # a second question waits in the box
    assert control.stop() and control.cancel.is_set() and not control.discarded
    control.end()
    assert control.begin() and not control.cancel.is_set()     # a new answer starts clean
    assert control.discard() and control.discarded and control.cancel.is_set()
    control.end()
    assert not control.stop() and not control.discard()          # idle: nothing to cancel
