"""What a chat model is to the rest of the package: `ChatModel`, the one interface that the
in-process llama.cpp model (`generate.LocalLLM`), a model server (`generate.RemoteLLM`) and the
test fakes (tests/fakes.py) implement, checked by one contract test run against each
(tests/unit/test_chat_model_contract.py). `GenStats` is what a stream reports as it goes."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Protocol, runtime_checkable


@dataclass
class GenStats:
    prompt_tokens: int = 0
    cached_tokens: int = 0
    completion_tokens: int = 0
    ttft_s: float | None = None
    last_token_s: float = 0.0          # when the last emitted token arrived (from start)
    generate_s: float = 0.0

    @property
    def tokens_per_s(self) -> float:
        """Decode rate between the first and the last emitted token."""
        span = self.last_token_s - (self.ttft_s or 0.0)
        return (self.completion_tokens - 1) / span if self.completion_tokens > 1 and span > 0 else 0.0


@dataclass
class Placement:
    """The start of a prompt whose KV is put in place rather than read: `text` is what the
    placed cells stand for (the rendered head and pieces), `place()` puts them in the context
    under the model lock and returns their tokens (rag/kvcache.py)."""
    text: str
    place: Callable[[], list[int]]


@runtime_checkable
class ChatModel(Protocol):
    """A chat model as the assistant uses it. `caches_prefix` says whether it keeps a KV state
    of a fixed prompt start (the in-process model: then it also offers `render`,
    `split_prefix`, `system_prefix`, `ensure_prefix`, `state_file`, `prefix_key`, `tokenize` and
    `forget_prefix`, used by the prompt cache and the stored chunk KV); a server does not, and
    never gets the `chunks` layout."""
    name: str
    n_ctx: int
    caches_prefix: bool

    def count_tokens(self, text: str) -> int:
        """Tokens `text` takes (a safe overestimate where the model's tokenizer is not at hand)."""

    def stream_messages(self, messages: list[dict], max_tokens: int, stats: GenStats,
                        placement: Placement | None = None) -> Iterator[str]:
        """Text pieces of the reply to a chat message list, `stats` filled as they come.
        Closing the iterator frees the model at once."""

    def warm_prefix(self, system: str, state_dir: Path | None) -> str:
        """Make the KV state of this system turn ready (loaded, or computed once and saved
        in `state_dir`); says how, or "not needed" for a model that caches nothing."""
