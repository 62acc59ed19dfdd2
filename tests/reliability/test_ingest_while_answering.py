"""Adding a document never freezes the chat: while a file uploaded through the Documents
tab is ingested and the new version's prompt cache is computed (in a helper process with
its own model instance), questions are answered from the previous version at normal speed;
then the new version is switched in and answers from its saved cache. Real model, embedder
and a copy of the real index, full-corpus layout."""
import shutil
import threading
import time

import pytest

from conftest import requires_real
from rag.chat import Assistant
from rag.config import Settings
from rag.ui import ChatApp

pytestmark = [pytest.mark.integration, requires_real]


def test_questions_are_answered_while_an_upload_is_ingested(tmp_path, assistant):
    index = tmp_path / "index"
    shutil.copytree(assistant.settings.index_dir, index, symlinks=True)
    s = Settings.from_env(index_dir=index, context_mode="full")
    app = ChatApp(s, Assistant(s, llm=assistant.llm, embedder=assistant.embedder))
    old = app.assistant.data.path
    assert app.assistant.warm() in ("warm", "loaded")          # the copied version's saved cache
    note = tmp_path / "quokka.md"
    note.write_text("# Quokka kettle\n\nThe quokka kettle weighs 2.4 kg and boils a litre in 90 seconds.",
                    encoding="utf-8")
    steps, result = [], {}

    def upload():
        started = time.perf_counter()
        result["rows"], result["report"] = app.add_documents([str(note)], "", "Auto",
                                                             lambda f, desc="": steps.append((time.perf_counter(), desc)))
        result["seconds"] = time.perf_counter() - started
    worker = threading.Thread(target=upload)
    worker.start()
    deadline = time.time() + 300
    while not any("prompt cache" in d for _, d in steps):
        assert worker.is_alive() and time.time() < deadline, (steps, result)
        time.sleep(0.2)
    asked = time.perf_counter()
    answer = app.assistant.ask("Gemma 4 采用什么许可证？")
    waited = time.perf_counter() - asked
    preparing, version_then = worker.is_alive(), app.assistant.data.path
    assert "Apache 2.0" in answer.answer and answer.citations
    worker.join(900)
    assert not worker.is_alive() and "added 1" in result["report"], result
    switch = app.assistant.last_switch
    print(f"\nquestion during the upload: {waited:.1f} s (ttft {answer.timings.ttft_s:.1f} s), "
          f"upload to switched in: {result['seconds']:.0f} s, switch {switch}")
    assert preparing and version_then == old, "the question was not answered while the upload was prepared"
    assert switch["prompt_cache"].startswith(("computed", "loaded")) and app.assistant.data.path != old
    after = app.assistant.ask("How much does the quokka kettle weigh?")
    assert "2.4" in after.answer and any("quokka" in c.text for c in after.citations)
    assert after.context.cached_tokens > 1000            # answered from the saved cache, not recomputed
