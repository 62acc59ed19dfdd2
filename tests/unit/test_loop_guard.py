"""A reply that goes round in a loop (the same sentence again and again, or bare markers until
the token limit) is stopped once the loop is plain, and the answer keeps one copy."""
import pytest

from fakes import FakeChatModel
from rag.shaping import Shaper


class LoopingLLM(FakeChatModel):
    """One sentence, then another one repeated until the token limit."""
    name = "looping"

    def __init__(self, first, again):
        super().__init__()
        self.first, self.again, self.pieces = first, again, 0

    def generate(self, prompt, max_tokens, stats):
        yield self.first
        for _ in range(max_tokens):
            self.pieces += 1
            stats.completion_tokens += 1
            yield self.again


NOTE = "# Quokka kettle\n\nThe quokka kettle boils water in 90 seconds. It runs on phones and laptops.\n"


@pytest.fixture
def assistant_for(note_assistant):
    return lambda llm: note_assistant(NOTE, llm, max_tokens=300)


def test_a_sentence_said_again_and_again_stops_the_reply(assistant_for):
    llm = LoopingLLM("The quokka kettle boils water in 90 seconds [1]. ", "It runs on phones and laptops [1]. ")
    answer = assistant_for(llm).ask("What does the quokka kettle do?")
    assert llm.pieces <= 4                                 # not 300
    assert not answer.refused and answer.answer.count("runs on phones") == 1


def test_bare_markers_until_the_limit_stop_the_reply(assistant_for):
    llm = LoopingLLM("The quokka kettle boils water in 90 seconds [1].", " [1][2]")
    answer = assistant_for(llm).ask("How fast does the quokka kettle boil water?")
    assert llm.pieces <= 8
    assert "90 seconds" in answer.answer and "[2]" not in answer.answer


def _looping(pieces):
    shaper = Shaper("en", {1, 2})
    for piece in pieces:
        shaper.feed(piece)
        if shaper.looping:
            break
    return shaper.looping


def test_what_is_no_loop():
    assert not _looping(["| Size | Context |\n", "| --- | --- |\n", "| --- | --- |\n", "| --- | --- |\n"])
    assert not _looping(["1. Apache 2.0 [1].\n", "2. 256K context [1].\n", "3. Apache 2.0 again [1].\n"])
    assert not _looping(["It runs. ", "It runs. "])                 # twice is not yet a loop
    assert _looping(["It runs on phones. "] * 3)
