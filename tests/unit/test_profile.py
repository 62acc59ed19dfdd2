"""The corpus profile: one file holds what is specific to the shipped corpus."""
import ast
import re
from pathlib import Path

from rag import profile, prompt
from rag.config import Settings
from rag.retrieve import unknown_names

ROOT = Path(__file__).resolve().parents[2]
# Set-up and measurement modules carry the shipped corpus's benchmark questions by design.
MEASUREMENT = {"bench.py", "bench_grown.py", "bench_pdf.py", "embedder_build.py"}


def test_generic_stages_name_no_corpus_word_outside_comments():
    """No string a stage uses (docstrings aside) and no name names the shipped corpus."""
    words = re.compile(r"gemma|gemini|google|apache", re.IGNORECASE)
    for path in sorted((ROOT / "rag").rglob("*.py")):
        if path.name in MEASUREMENT or path.name == "profile.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                      if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                      and node.body and isinstance(node.body[0], ast.Expr)
                      and isinstance(node.body[0].value, ast.Constant)}
        for node in ast.walk(tree):
            text = node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and id(node) not in docstrings else getattr(node, "id", None) or getattr(node, "attr", None)
            if isinstance(text, str) and words.search(text):
                raise AssertionError(f"{path.name}:{getattr(node, 'lineno', '?')}: {text[:80]!r}")


def test_shipped_profile_names_the_corpus():
    p = profile.load(str(Settings.from_env().corpus_dir))
    assert "google" in p.common_words and "许可证" in p.words
    assert p.glossary and p.glossary.exists()
    assert "Apache" in p.subject["en"]
    assert "Apache License 2.0" in prompt.refusal_text("en")
    assert prompt.refusal_text("xx") == prompt.refusal_text("en")


def test_a_corpus_without_profile_gets_neutral_defaults(tmp_path):
    p = profile.load(str(tmp_path))
    assert p.words == () and p.glossary is None and p.common_words == frozenset()
    assert p.subject["en"] == "the documents"


def test_a_broken_profile_is_one_line(tmp_path):
    (tmp_path / "profile.json").write_text("{not json")
    try:
        profile.load(str(tmp_path))
    except Exception as e:            # noqa: BLE001
        assert "profile.json is not valid JSON" in str(e) and "\n" not in str(e)
    else:
        raise AssertionError("no error")


def test_common_words_come_from_the_profile():
    corpus = "gemma4apache2.0"
    assert unknown_names("What did Google say?", corpus) == ["Google"]
    assert unknown_names("What did Google say?", corpus, frozenset({"google"})) == []


def test_a_capitalised_latin_word_opening_a_chinese_question_is_a_name():
    corpus = "gemma 4 uses apache 2.0, the license"
    assert unknown_names("Llama 授權允許大公司使用嗎？", corpus) == ["Llama"]
    assert unknown_names("Apache 授權允許商用嗎？", corpus) == []
    # an English question's first word is capitalised by the sentence, not by a name
    assert unknown_names("Llamas are not in it, are they?", corpus) == []


def test_a_title_of_several_words_the_documents_never_name_is_unknown():
    # Each word is in the documents, the title is not: "Gemma Terms of Use" is another document.
    corpus = "gemma 4 is released under the apache license. the terms of this license apply to its use by google ai for developers, as its blog says"
    assert unknown_names("Which uses does the Gemma Terms of Use prohibit?", corpus) == ["Gemma Terms of Use"]
    assert unknown_names("Gemma Terms of Use 禁止哪些用途？", corpus) == ["Gemma Terms of Use"]
    # a title the documents hold, a possessive, capitalised words with no "of"/"for" (a description),
    # and a title-cased question are no unknown names
    assert unknown_names("According to Google AI for Developers' notes, when was Gemma 4 released?", corpus) == []
    assert unknown_names("What did the Google Apache Blog say about Gemma 4?", corpus) == []
    assert unknown_names("Which Terms Of The License Apply To Gemma 4?", corpus) == []


def test_a_title_cased_question_has_no_names_by_capitals_alone():
    corpus = "gemma 4 uses apache 2.0, the license, and its patent grant"
    assert unknown_names("What Does The License Say About Patents?", corpus) == []
    assert unknown_names("What does the license say about Quokka?", corpus) == ["Quokka"]
    # a digit or an odd case still marks a name
    assert unknown_names("What Is Llama 4 Licensed Under?", corpus) == ["Llama 4"]
    assert unknown_names("Does The MMLU Score Matter?", corpus) == ["MMLU"]
    # nor is a title looked for where the small words are capitalised too
    assert unknown_names("What Is The Code of Conduct?", corpus) == []


def test_compounds_numbered_parts_and_languages_are_no_names():
    corpus = "gemma 4 uses apache 2.0. 8. limitation of liability. in no event shall any contributor be liable"
    # a lower-case compound of ordinary words is a description; short odd parts make a name
    assert unknown_names("Is Gemma 4 part of a long-standing community-made effort?", corpus) == []
    assert unknown_names("What licence does gpt-oss use?", corpus) == ["gpt-oss"]
    assert unknown_names("Is the grant non-exclusive?", corpus) == []
    # a known name with an ordinary word hyphened to it is that name; an unknown one stays unknown
    assert unknown_names("What happens to an Apache-licensed contributor?", corpus) == []
    assert unknown_names("Is a DeepSeek-based model liable?", corpus) == ["DeepSeek-based"]
    # a numbered part of a document points into it
    assert unknown_names("Under Section 8, when is a contributor liable?", corpus) == []
    assert unknown_names("What does Llama 8 say?", corpus) == ["Llama 8"]
    # a language describing a word names no subject; a language alone still does
    assert unknown_names("What is the title of the Chinese article?", corpus) == []
    assert unknown_names("Does Gemma 4 speak Swahili?", corpus) == ["Swahili"]
    assert unknown_names("Is there a Japanese version?", corpus) == []
