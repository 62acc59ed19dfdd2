from rag.text import detect_language, normalize, to_traditional, tokenize


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


def test_tokens_keep_model_names_whole_and_mixed_text():
    tokens = tokenize("Gemma 4 覆盖 E2B、E4B、31B、26B A4B 等尺寸，支持 256K 上下文，Apache 2.0 许可")
    for name in ("e2b", "e4b", "31b", "26b", "a4b", "26b_a4b", "256k", "apache_2.0", "gemma_4", "尺寸", "许可"):
        assert name in tokens, name
    assert "的" not in tokenize("模型的尺寸")


def test_traditional_and_simplified_questions_share_tokens():
    assert set(tokenize("模型授權是什麼")) == set(tokenize("模型授权是什么"))


def test_to_traditional_uses_taiwan_phrasing():
    assert to_traditional("开发者下载软件") == "開發者下載軟體"
