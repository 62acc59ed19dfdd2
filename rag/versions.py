"""Index versions while answering: a newer version (an ingest from the UI or another shell) is
loaded and its prompt cache prepared off the answering path, in a helper process with its own
model instance, while questions are answered from the current version; it is switched in
between questions, so one version answers a question from start to end."""
from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from . import store
from .config import Settings
from .context import ContextLayout, chunk_kv_dir, chunks_head, full_prompt_of, prepare_chunks
from .retrieve import Retriever

SWAP_WAIT_S = 120.0          # longest a version switch waits for answers in flight to finish
PREPARE_TIMEOUT_S = 3600.0   # the helper process computing a new prompt cache
HELPER = "import sys; from rag.versions import prepare_prefix_main; sys.exit(prepare_prefix_main())"


def _settings_json(settings: Settings) -> str:
    return json.dumps(dataclasses.asdict(settings), default=str)


def _settings_from_json(text: str) -> Settings:
    values = json.loads(text)
    for f in dataclasses.fields(Settings):
        if isinstance(f.default, Path) and values.get(f.name) is not None:
            values[f.name] = Path(values[f.name])
    return Settings(**values)


def prepare_prefix_main() -> int:
    """The helper process that computes a new index version's prompt cache with its own
    model instance, at low priority, so the serving model keeps answering. Reads
    {"settings": ..., "version": path} on stdin, prints how the state was made."""
    job = json.loads(sys.stdin.read())
    settings = _settings_from_json(job["settings"])
    try:
        os.nice(10)
    except OSError:
        pass
    data = store.load_index(Path(settings.index_dir), expect=store.index_expectations(settings), verify=False)
    if str(data.path) != job["version"]:
        print("superseded")      # a newer version came; the server prepares that one next
        return 0
    from .generate import LocalLLM
    llm = LocalLLM(settings)
    if job.get("layout") == "chunks":
        from .kvcache import ChunkKV
        kv = ChunkKV(llm, chunk_kv_dir(settings), chunks_head(llm))
        print(prepare_chunks(ContextLayout(data, settings, lambda: llm), kv,
                             lambda done, total: print(f"chunk {done}/{total}", file=sys.stderr, flush=True)))
        return 0
    print(llm.warm_prefix(full_prompt_of(data)[0], data.path))
    return 0


def _run_reporting(job: str, env: dict, step) -> subprocess.CompletedProcess:
    """The chunk-KV helper, its "chunk i/n" progress lines passed on as they come."""
    proc = subprocess.Popen([sys.executable, "-c", HELPER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    proc.stdin.write(job)
    proc.stdin.close()
    tail = []
    deadline = time.monotonic() + PREPARE_TIMEOUT_S
    for line in proc.stderr:
        line = line.strip()
        if line.startswith("chunk "):
            step(f"prompt cache: {line} (read once)")
        elif line:
            tail = (tail + [line])[-5:]
        if time.monotonic() > deadline:
            proc.kill()
            raise subprocess.TimeoutExpired(proc.args, PREPARE_TIMEOUT_S)
    out = proc.stdout.read()
    proc.wait()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, "\n".join(tail))


class VersionSwitch:
    """Answers in flight against a version switch, for one `Assistant`: `answering()` holds
    an answer's place; `reload_if_changed` prepares a newer version and swaps it in when no
    answer is in flight."""

    def __init__(self, assistant):
        self.assistant = assistant
        self._reload_lock = threading.Lock()       # one version switch at a time
        self._gate = threading.Condition()          # answers in flight vs a version switch
        self._in_flight = 0
        self._swap_pending = False
        self._preparing = False
        self.last_switch: dict = {}                 # how the last version switch went (for the UI and tests)

    @contextmanager
    def answering(self):
        with self._gate:
            self._gate.wait_for(lambda: not self._swap_pending, timeout=SWAP_WAIT_S)
            self._in_flight += 1
        try:
            yield
        finally:
            with self._gate:
                self._in_flight -= 1
                self._gate.notify_all()

    def reload_if_changed(self, wait: bool = True, on_step=None) -> bool:
        """Pick up a newer index version. `wait=False` prepares it in a background thread and
        returns at once. True when a newer version was found."""
        current = store.current_path(Path(self.assistant.settings.index_dir))
        if current is None or current == self.assistant.data.path:
            return False
        if wait:
            self.switch(on_step)
            return True
        with self._gate:
            if self._preparing:
                return True
            self._preparing = True
        threading.Thread(target=self._switch_in_background, name="rag-version-switch", daemon=True).start()
        return True

    def _switch_in_background(self) -> None:
        try:
            self.switch()
        except Exception as e:        # the current version keeps answering; say why
            print(f"note: the new index version was not taken up ({type(e).__name__}: {e})", file=sys.stderr)
        finally:
            with self._gate:
                self._preparing = False

    def switch(self, on_step=None) -> None:
        a = self.assistant
        step = on_step or (lambda text: None)
        index_dir = Path(a.settings.index_dir)
        with self._reload_lock:
            while store.current_path(index_dir) not in (None, a.data.path):
                started = time.perf_counter()
                step("loading the new index")
                data = store.load_index(index_dir, expect=store.index_expectations(a.settings))
                retriever = Retriever(data, a.embedder, a.settings)
                full = full_prompt_of(data)
                tokens = None
                layout = a.settings.context_mode
                local = a.llm.caches_prefix
                if layout not in ("full", "retrieval", "chunks"):
                    tokens = a.llm.count_tokens(full[0])
                    layout = "full" if tokens <= a.settings.full_context_max_tokens else \
                        (a.settings.beyond_full if local else "retrieval")
                cache = "not needed"
                if layout in ("full", "chunks") and local:
                    step("preparing the model's prompt cache for the new documents "
                         "(answers use the previous documents until it is ready)")
                    cache = self.prepare_aside(full[0], data.path, layout, step)
                    if cache == "superseded":
                        continue          # a newer version came meanwhile: prepare that one
                waited = time.perf_counter()
                with self._gate:
                    self._swap_pending = True
                    self._gate.wait_for(lambda: self._in_flight == 0, timeout=SWAP_WAIT_S)
                    a.data, a.retriever = data, retriever
                    a.context = ContextLayout(data, a.settings, lambda: a.llm, full, tokens)
                    self._swap_pending = False
                    self._gate.notify_all()
                self.last_switch = {"version": data.path.name, "layout": layout, "prompt_cache": cache,
                                    "seconds": round(time.perf_counter() - started, 2),
                                    "waited_for_answers_s": round(time.perf_counter() - waited, 2)}
                if layout in ("full", "chunks") and local:
                    step("loading the new prompt cache")
                    a.warm()

    def prepare_aside(self, system: str, version: Path, layout: str = "full", step=None) -> str:
        """Compute the new version's prompt cache in a helper process with its own model
        instance (the serving one keeps answering), unless it is already saved. In the
        `chunks` layout that is each new chunk's KV, its progress passed to `step`."""
        llm = self.assistant.llm
        state = llm.state_file(llm.system_prefix(system), version)
        if layout == "full" and state.exists():
            return "saved"
        package_root = str(Path(__file__).resolve().parent.parent)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")])))
        job = json.dumps({"settings": _settings_json(self.assistant.settings), "version": str(version),
                          "layout": layout})
        try:
            if layout == "chunks":
                done = _run_reporting(job, env, step or (lambda text: None))
            else:
                done = subprocess.run([sys.executable, "-c", HELPER], input=job, capture_output=True, text=True,
                                      env=env, timeout=PREPARE_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            return "helper timed out"
        if layout == "chunks" and done.returncode == 0:
            return done.stdout.strip() or "computed"
        if layout == "full" and (state.exists() or done.stdout.strip() == "superseded"):
            return done.stdout.strip() or "computed"
        why = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
        print(f"note: the prompt cache for the new documents could not be prepared aside ({why}); "
              "the first question computes it", file=sys.stderr)
        return "failed"
