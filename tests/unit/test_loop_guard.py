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


def _templated(text):
    shaper = Shaper("zh-Hant", {1, 2, 3})
    for piece in text.split(" "):
        shaper.feed(piece + " ")
        if shaper.templated:
            break
    return shaper.templated


def test_a_list_made_from_one_template_is_stopped_at_its_third_item():
    made_up = ("應用場景如下：\n"
               "1. **Android 裝置**: Gemma 4 可以直接帶到 Android 裝置上，提供更智慧的 AI 模型[2]。\n"
               "2. **Raspberry Pi**: Gemma 4 也可以直接帶到 Raspberry Pi 裝置上，提供更智慧的 AI 模型[2]。\n"
               "3. **Jetson Nano**: Gemma 4 也可以直接帶到 Jetson Nano 裝置上，提供更智慧的 AI 模型[2]。\n")
    assert _templated(made_up)
    assert not _templated(made_up.rsplit("3.", 1)[0])                        # two items are not yet a template
    assert _templated("1. 在 Engadget 的部落格上釋出新聞[2]。\n2. 在 Engadget 的開發者論壇上釋出新聞[2]。\n"
                      "3. 在 Engadget 的 Android 開發者部落格上釋出新聞[2]。\n")


def test_a_list_of_different_items_is_no_template():
    assert not _templated("1. 原生視覺處理[2]\n2. 原生音訊處理[2]\n3. 多模態推理\n4. 原生文字處理\n")   # short items
    assert not _templated("1. **任务效果**：评估 Gemma 4 在实际任务中的表现，包括性能、准确性和效率。\n"
                          "2. **算力需求**：确保 Gemma 4 的计算资源能够满足生产环境的需求，包括内存、CPU 和 GPU。\n"
                          "3. **数据治理**：确保数据的安全性和隐私，避免数据泄露和滥用。\n")
    assert not _templated("1. **Laptop GPUs**: It supports laptop GPUs, enabling developers to run AI models on "
                          "high-performance computing devices.\n2. **Developer Workstations**: Gemma 4 is compatible "
                          "with developer workstations, allowing developers to experiment in a controlled environment.\n"
                          "3. **Accelerators**: It supports accelerators such as Jetson Nano, enabling developers to "
                          "leverage specialized hardware.\n")
