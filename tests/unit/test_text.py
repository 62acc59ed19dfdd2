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
