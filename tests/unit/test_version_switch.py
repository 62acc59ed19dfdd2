"""Ingest off the answering path: a new index version is prepared while questions are
answered from the current one, switched in between questions, and an ingest that changed
nothing loads no model and prepares nothing."""
import threading
import time

import pytest

from fakes import FakeChatModel
from rag.chat import Assistant
from rag.versions import VersionSwitch
from rag.ingest import ingest
from rag.ui import ChatApp


class SlowLLM(FakeChatModel):
    """Answers with its first passage, cited, after `delay` seconds; counts calls."""
    name = "slow"

    def __init__(self, delay=0.0):
        super().__init__()
        self.delay = delay
        self.calls = 0

    def generate(self, prompt, max_tokens, stats):
        passage = prompt.split("[1] ", 1)[1].split("\n")[0]
        with self.lock:
            self.calls += 1
            time.sleep(self.delay)
            for piece in [passage, " [1]"]:
                stats.completion_tokens += 1
                yield piece


@pytest.fixture
def setup(tmp_settings, fake_embedder, tmp_path):
    ingest(tmp_settings, embedder=fake_embedder, progress=False)
    tmp_settings.context_mode = "retrieval"
    tmp_settings.min_relevance = 0.0
    note = tmp_path / "青柠.md"
    note.write_text("# 青柠笔记\n\n青柠实验室用 Gemma 4 E4B 做客服助手，部署用了三天。", encoding="utf-8")
    return tmp_settings, fake_embedder, note


def test_questions_are_answered_from_the_old_version_while_the_new_one_is_prepared(setup, monkeypatch):
    settings, embedder, note = setup
    assistant = Assistant(settings, llm=SlowLLM(), embedder=embedder)
    old = assistant.data.path
    release = threading.Event()
    monkeypatch.setattr(VersionSwitch, "switch", _slow_switch(VersionSwitch.switch, release))
    ingest(settings, [str(note)], embedder=embedder, progress=False)       # another shell, say
    started = time.perf_counter()
    answer = assistant.ask("青柠实验室的客服助手")
    assert time.perf_counter() - started < 2.0                 # not held up by the preparation
    assert assistant.data.path == old and not any("青柠" in c.text for c in answer.citations)
    release.set()
    _wait(lambda: assistant.data.path != old)
    answer = assistant.ask("青柠实验室的客服助手")
    assert any("青柠" in c.text for c in answer.citations)


def _slow_switch(switch, release):
    def slow(self, on_step=None):
        release.wait(10)                      # a prompt cache that takes a while
        return switch(self, on_step)
    return slow


def _wait(condition, timeout=10.0):
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, "timed out"
        time.sleep(0.02)


def test_a_switch_waits_for_the_answer_in_flight_and_never_mixes_versions(setup):
    settings, embedder, note = setup
    llm = SlowLLM(delay=0.6)
    assistant = Assistant(settings, llm=llm, embedder=embedder)
    old = assistant.data.path
    stream = assistant.stream("Gemma 4 的许可证")
    next(stream)                                  # in flight: retrieval done, the model answering
    ingest(settings, [str(note)], embedder=embedder, progress=False)
    switcher = threading.Thread(target=assistant.reload_if_changed)
    switcher.start()
    time.sleep(0.2)
    assert assistant.data.path == old             # not while the answer is being written
    events = list(stream)
    switcher.join(10)
    assert assistant.data.path != old
    answer = events[-1].answer
    assert not answer.refused and answer.citations


class Forbidden:
    """Stands for the chat model: constructing it fails the test."""
    def __init__(self, *args, **kwargs):
        raise AssertionError("the chat model was loaded")


@pytest.mark.parametrize("case", ["failed", "unchanged"])
def test_an_ingest_that_changed_nothing_loads_no_model(setup, monkeypatch, tmp_path, case):
    import rag.generate
    settings, embedder, note = setup
    settings.context_mode = "auto"          # auto would count tokens with the model
    monkeypatch.setattr(rag.generate, "LocalLLM", Forbidden)
    monkeypatch.setattr(VersionSwitch, "prepare_aside", lambda *a: pytest.fail("prepared a prompt cache"))
    if case == "unchanged":
        ingest(settings, [str(note)], embedder=embedder, progress=False)
        source = note
    else:
        source = tmp_path / "empty.txt"
        source.write_bytes(b"")
    app = ChatApp(settings, Assistant(settings, embedder=embedder))
    version = app.assistant.data.path
    rows, report = app.add_documents([str(source)], "", "Auto")
    assert ("failed 1" if case == "failed" else "skipped 1 unchanged") in report
    assert app.assistant.data.path == version
    assert app.assistant._llm is None


def test_cli_ingest_warms_only_when_the_index_changed(setup, monkeypatch, tmp_path):
    import rag.__main__ as cli
    settings, embedder, note = setup
    warmed = []
    monkeypatch.setattr(cli, "_warm", lambda s: warmed.append(s))
    monkeypatch.setattr("rag.ingest._load_embedder", lambda s: embedder)
    monkeypatch.setattr(cli.Settings, "from_env", classmethod(lambda cls, **kw: settings))
    bad = tmp_path / "empty.txt"
    bad.write_bytes(b"")
    assert cli.main(["ingest", str(bad)]) == 1 and warmed == []
    assert cli.main(["ingest"]) == 0 and warmed == []                  # shipped corpus, unchanged
    assert cli.main(["ingest", str(note)]) == 0 and len(warmed) == 1
