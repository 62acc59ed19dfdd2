"""The one fake chat model of the test suite: `FakeChatModel` implements `rag.llm.ChatModel`
(checked by tests/unit/test_chat_model_contract.py, as the real models are), so a test's
variant only says what it answers, by overriding `generate(prompt, max_tokens, stats)`. The
prompt it gets is the messages' contents joined by newlines."""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Iterator

from rag.llm import GenStats, Placement


class FakeChatModel:
    name = "fake"
    n_ctx = 4096
    caches_prefix = False
    chars_per_token = 4

    def __init__(self, reply: str = "Apache 2.0 [1]."):
        self.reply = reply
        self.lock = threading.Lock()
        self.prompt = ""

    def count_tokens(self, text: str) -> int:
        return len(text) // self.chars_per_token

    def stream_messages(self, messages: list[dict], max_tokens: int, stats: GenStats,
                        placement: Placement | None = None) -> Iterator[str]:
        self.prompt = "\n".join(m["content"] for m in messages)
        started = time.perf_counter()
        try:
            yield from self.generate(self.prompt, max_tokens, stats)
        finally:
            stats.generate_s = time.perf_counter() - started

    def generate(self, prompt: str, max_tokens: int, stats: GenStats) -> Iterator[str]:
        """The reply, word by word, up to `max_tokens` pieces."""
        for piece in self.reply.split(" ")[:max_tokens]:
            stats.completion_tokens += 1
            yield piece + " "

    def warm_prefix(self, system: str, state_dir: Path | None) -> str:
        return "not needed"


class FakeLocalModel(FakeChatModel):
    """A fake that looks like the in-process model: a chat template and a cached prefix, so
    the `chunks` layout is available. 1 token per 2 characters."""
    name = "local-fake"
    caches_prefix = True
    chars_per_token = 2

    def tokenize(self, text: str) -> list[int]:
        return list(text.encode())

    def render(self, messages: list[dict], generation_prompt: bool = True) -> str:
        out = "".join(f"<{m['role']}>{m['content']}</{m['role']}>" for m in messages)
        return out + ("<assistant>" if generation_prompt else "")

    def system_prefix(self, system: str) -> str:
        return self.render([{"role": "system", "content": system}], generation_prompt=False)

    def prefix_key(self, prefix: str) -> str:
        return "ident-" + str(len(prefix))

    def ensure_prefix(self, prefix: str, state_dir: Path | None) -> str:
        return "computed"

    def warm_prefix(self, system: str, state_dir: Path | None) -> str:
        return self.ensure_prefix(self.system_prefix(system), state_dir)

    def forget_prefix(self) -> None:
        pass

    def split_prefix(self, messages: list[dict]) -> tuple[str, str]:
        full, system = self.render(messages), self.render(messages[:1], generation_prompt=False)
        return (system, full[len(system):]) if full.startswith(system) else ("", full)

    def state_file(self, prefix: str, state_dir: Path) -> Path:
        return Path(state_dir) / f"prefix-{self.prefix_key(prefix)}.state"
