from rag.text import detect_language, normalize, singular, to_traditional, tokenize


def test_detects_the_three_scripts_and_others():
    assert detect_language("Gemma 4 采用什么许可证？") == "zh-Hans"
    assert detect_language("Gemma 4 採用什麼授權？") == "zh-Hant"
    assert detect_language("Google 為什麼開放 Gemma 4?") == "zh-Hant"
    assert detect_language("Which model sizes does Gemma 4 come in?") == "en"
    assert detect_language("Gemma 4 のライセンスは何ですか？") == "ja"
    assert detect_language("Gemma 4의 라이선스는 무엇입니까?") == "ko"
    assert detect_language("Какая лицензия у Gemma 4?") == "ru"
    assert detect_language("🤔🤔") == "und"


def test_normalize_maps_traditional_and_full_width_to_simplified_lower():
    assert normalize("開發者ＡＰＡＣＨＥ") == "开发者apache"


def test_british_spellings_match_american_ones():
    assert normalize("The Licence and its licences, organisation, centre, colour") == \
        "the license and its licenses, organization, center, color"
    assert normalize("licensed, silence, Licensor, offence") == "licensed, silence, licensor, offense"
    assert "license" in tokenize("May I change the licence?")


def test_a_plural_loses_its_s_and_stays_the_words_start():
    assert [singular(w) for w in ("trademarks", "grants", "days", "status", "analysis", "class", "its", "licensor's")] \
        == ["trademark", "grant", "day", "status", "analysis", "class", "its", "licensor's"]


def test_tokens_keep_model_names_whole_and_mixed_text():
    tokens = tokenize("Gemma 4 覆盖 E2B、E4B、31B、26B A4B 等尺寸，支持 256K 上下文，Apache 2.0 许可")
    for name in ("e2b", "e4b", "31b", "26b", "a4b", "26b_a4b", "256k", "apache_2.0", "gemma_4", "尺寸", "许可"):
        assert name in tokens, name
    assert "的" not in tokenize("模型的尺寸")


def test_traditional_and_simplified_questions_share_tokens():
    assert set(tokenize("模型授權是什麼")) == set(tokenize("模型授权是什么"))


def test_to_traditional_uses_taiwan_phrasing():
    assert to_traditional("开发者下载软件") == "開發者下載軟體"


def test_taiwan_phrasing_reads_as_the_mainland_words_it_stands_for():
    """A Taiwan reader's words (部落格, 視窗, 程式碼) become the mainland words a Simplified document uses;
    the keywords they add are only those `normalize` does not already give, and none for Simplified text."""
    from rag.text import mainland_words, to_mainland
    assert to_mainland("麵包店的部落格") == "面包店的博客" and to_mainland("程式碼") == "代码"
    added = mainland_words("麵包店的上下文視窗有多長？").split()
    assert "窗口" in added and "上下文窗口" in added and "视窗" not in added
    assert mainland_words("面包店的上下文窗口有多长？") == "" and mainland_words("The bakery's blog") == ""


def test_a_traditional_sentence_is_backed_in_mainland_phrasing():
    """"支援…上下文視窗" is "支持…上下文窗口" in the Simplified passage; a Simplified sentence is read as
    written ("建立" is not taken for "创建")."""
    from rag.support import support
    passage = "面包店支持最长 48 小时的发酵窗口,并在博客上建立了订单。"
    simplified = support("面包店支持最长 48 小时的发酵窗口[1]。", passage)
    assert support("麵包店支援最長 48 小時的發酵視窗[1]。", passage) == simplified > 0.9
    assert support("麵包店在部落格上建立了訂單[1]。", passage) > 0.9
    assert support("面包店在博客上建立了订单[1]。", passage) > 0.9


# --- settings are validated when they load -------------------------------------------------

def test_settings_reject_unknown_words_and_bad_numbers(monkeypatch):
    import pytest
    from rag.config import Settings
    from rag.errors import SetupError
    for name, raw, hint in [("RAG_CONTEXT_MODE", "ful", "auto, full, chunks, retrieval"),
                            ("RAG_CACHE_TYPE_K", "q9", "q8_0"),
                            ("RAG_K", "five", "whole number"),
                            ("RAG_K", "0", "at least 1"),
                            ("RAG_MAX_FILE_MB", "lots", "a number"),
                            ("RAG_FLASH_ATTN", "maybe", "true")]:
        monkeypatch.setenv(name, raw)
        with pytest.raises(SetupError) as e:
            Settings.from_env()
        message = str(e.value)
        assert f"{name}=" in message and raw in message and hint in message and "\n" not in message
        monkeypatch.delenv(name)
    monkeypatch.setenv("RAG_CONTEXT_MODE", "Retrieval")
    monkeypatch.setenv("RAG_FLASH_ATTN", "off")
    s = Settings.from_env()
    assert s.context_mode == "retrieval" and s.flash_attn is False


def test_cli_reports_a_bad_setting_in_one_line(monkeypatch, capsys):
    from rag.__main__ import main
    monkeypatch.setenv("RAG_CONTEXT_MODE", "ful")
    assert main(["sources"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: RAG_CONTEXT_MODE='ful' is not valid") and "\n" not in err
