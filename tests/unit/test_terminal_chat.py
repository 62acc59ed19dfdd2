"""`rag chat`'s loop over a fake assistant: history kept between lines, /new, /quit,
errors as one line and the conversation going on."""
import io

from rag.__main__ import chat_loop
from rag.errors import QuestionError
from rag.types import Answer, AnswerEvent, TokenEvent


class FakeAssistant:
    def __init__(self):
        self.calls = []

    def stream(self, question, history=None, k=None):
        history = list(history or [])
        self.calls.append((question, [t.question for t in history]))
        if question == "boom":
            raise QuestionError("the question is 9,999 characters long; keep it under 2,000")
        text = f"answer to {question} [1]."
        yield TokenEvent(text)
        yield AnswerEvent(Answer.from_json({
            "answer": text, "refused": False, "standalone_question": f"{history[-1].question}; {question}"
            if history else question,
            "citations": [{"n": 1, "title": "A doc", "text": f"chunk for {question}"}],
            "timings": {"ttft_s": 0.1, "tokens_per_s": 20.0}}))


def _run(lines):
    assistant, out, err = FakeAssistant(), io.StringIO(), io.StringIO()
    code = chat_loop(assistant, iter(lines), out=out, err=err)
    return code, assistant.calls, out.getvalue(), err.getvalue()


def test_each_line_is_answered_with_the_earlier_turns_as_history():
    code, calls, out, err = _run(["first?\n", "\n", "second?\n", "third?\n"])
    assert code == 0
    assert calls == [("first?", []), ("second?", ["first?"]), ("third?", ["first?", "second?"])]
    assert "answer to second? [1]." in out and "[1] A doc: 'chunk for second?'" in out
    assert "(looked up as: first?; second?)" in err


def test_new_starts_over_and_quit_ends():
    code, calls, out, err = _run(["first?\n", "/new\n", "second?\n", "/quit\n", "never?\n"])
    assert calls == [("first?", []), ("second?", [])]
    assert "(new conversation)" in err and "never?" not in out


def test_a_bad_question_is_one_line_and_the_conversation_goes_on():
    code, calls, out, err = _run(["first?\n", "boom\n", "/nope\n", "second?\n"])
    assert code == 0
    assert "error: the question is 9,999 characters long" in err and "Traceback" not in err
    assert "unknown command /nope" in err
    assert calls[-1] == ("second?", ["first?"])          # the failed question left no turn behind
