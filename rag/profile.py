"""The corpus profile (corpus/profile.json): everything specific to one corpus, read in
one place so that the generic stages hold none of it. The title and subject named in the
interface and in refusals, example questions, extra jieba words, words too common to be
a name the documents lack, the optional term list, and the scraped article's page-chrome
rules. A corpus without a profile gets neutral defaults."""
from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from .errors import IngestError

DEFAULT_SUBJECT = {"zh-Hans": "这些文档", "zh-Hant": "這些文件", "en": "the documents"}


@dataclass(frozen=True)
class Profile:
    title: dict = field(default_factory=lambda: {"en": "Document Q&A", "zh": "文档问答"})
    subtitle: dict = field(default_factory=lambda: {"en": "Offline answers from your documents, every claim cited.",
                                                    "zh": "离线回答，依据你的文档，每句话都有出处。"})
    subject: dict = field(default_factory=lambda: dict(DEFAULT_SUBJECT))
    examples: tuple = ()
    words: tuple = ()
    common_words: frozenset = frozenset()
    glossary: Path | None = None
    article: dict = field(default_factory=dict)

    def counter(self) -> re.Pattern | None:
        pattern = self.article.get("counter")
        return re.compile(pattern) if pattern else None

    def section(self, name: str, default: str) -> str:
        return self.article.get("sections", {}).get(name, default)


@functools.lru_cache(maxsize=8)
def load(corpus_dir: Path | str) -> Profile:
    path = Path(corpus_dir) / "profile.json"
    if not path.exists():
        return Profile()
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise IngestError(f"{path} is not valid JSON ({e}): restore it with `git checkout corpus/`") from None
    base = Profile()
    glossary = raw.get("glossary")
    return Profile(title=raw.get("title") or base.title, subtitle=raw.get("subtitle") or base.subtitle,
                   subject=dict(base.subject, **(raw.get("subject") or {})),
                   examples=tuple(raw.get("examples") or ()), words=tuple(raw.get("words") or ()),
                   common_words=frozenset(w.lower() for w in raw.get("common_words") or ()),
                   glossary=Path(corpus_dir) / glossary if glossary else None, article=raw.get("article") or {})


def current() -> Profile:
    """The profile of the configured corpus (RAG_CORPUS_DIR or the shipped one)."""
    from .config import Settings
    return load(str(Settings.from_env().corpus_dir))
