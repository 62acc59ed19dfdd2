"""The cross-language bridge: CC-CEDICT narrowed to the index's vocabulary."""
import pytest

from rag import bridge
from rag.support import support
from rag.retrieve import expand_query

DICT = """# CC-CEDICT test excerpt
專利 专利 [zhuan1 li4] /patent/sth uniquely enjoyed (or possessed etc) by a certain group of people/monopoly/
商標 商标 [shang1 biao1] /trademark/logo/
分發 分发 [fen1 fa1] /to distribute/distribution/to assign (sb) to a job/
許可證 许可证 [xu3 ke3 zheng4] /license/authorization/permit/
終止 终止 [zhong1 zhi3] /to stop/to terminate (law)/
個 个 [ge4] /individual/CL:個|个[ge4]/
"""


@pytest.fixture
def dictionary(tmp_path):
    path = tmp_path / "cedict.txt"
    path.write_text(DICT, encoding="utf-8")
    return path


def test_chinese_words_reach_the_english_words_of_the_index(dictionary):
    vocab = {"patent", "patents", "distribute", "distribution", "licenses", "terminate", "trademarks", "许可证"}
    b = bridge.build(frozenset(vocab), {}, dictionary)
    assert b.reverse["专利"][:2] == ["patent", "patents"]
    assert set(b.reverse["分发"]) == {"distribute", "distribution"}
    assert "terminate" in b.reverse["终止"] and "licenses" in b.reverse["许可证"]
    # English -> Chinese only towards Chinese words the index holds
    assert b["license"] == ["许可证"] and "patent" not in b
    # a Traditional question finds the same words
    assert {"patent", "terminate"} <= set(b.english_for("專利授權何時終止？"))


def test_the_profile_term_list_is_merged_first(dictionary):
    b = bridge.build(frozenset({"许可证", "授权", "license"}), {"license": ["授权"]}, dictionary)
    assert b["license"] == ["授权", "许可证"]
    assert b.reverse["授权"] == ["license"]


def test_expansion_and_citation_check_use_the_bridge(dictionary):
    b = bridge.build(frozenset({"patent", "terminate", "litigation"}), {}, dictionary)
    assert "patent" in expand_query("专利许可什么时候终止？", b).split()
    chunk = "any patent licenses granted to You under this License for that Work shall terminate"
    assert support("专利许可会终止。", chunk, b) > support("专利许可会终止。", chunk, {})


def test_without_the_dictionary_the_term_list_alone(monkeypatch, caplog):
    monkeypatch.setattr(bridge, "dictionary_path", lambda: None)
    b = bridge.build(frozenset({"许可证"}), {"license": ["许可证"]})
    assert dict(b) == {"license": ["许可证"]} and b.reverse == {"许可证": ["license"]}
    assert "not installed" in caplog.text
