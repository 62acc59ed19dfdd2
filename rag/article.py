"""The shipped article: its manifest, the scraped page cleaned of its chrome (menus, share
buttons, ads; the lines the corpus profile names), hard-wrapped lines joined again, and its
来源 list split into one document per cited source, each with its URL and site."""
from __future__ import annotations

import json
import re
from pathlib import Path

from .errors import IngestError
from .text import detect_language
from .types import Document


def load_corpus_manifest(corpus_dir: Path) -> dict:
    path = corpus_dir / "manifest.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IngestError(f"{path} is missing: restore it with `git checkout corpus/`") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise IngestError(f"{path} is not valid JSON ({e}): restore it with `git checkout corpus/`") from None


_DOMAIN = re.compile(r"^[a-z0-9-]+(\.[a-z0-9-]+)+$")
_SOURCE_ENTRY = re.compile(r"^\s*[•*\-]?\s*\[(\d+)\]\s*(.+?)\s*$")


def clean_article(raw: str, manifest: dict, profile=None) -> list[Document]:
    """Split the scraped page into the article and its cited sources.

    Chrome goes: the image caption and prompt, counters, the bare domain line,
    "人们还问" questions and related links, site boilerplate. The title, lede, body,
    要点 and the 来源 list stay; each 来源 entry becomes its own document."""
    if profile is None:
        from .profile import current
        profile = current()
    article_meta = next(d for d in manifest["documents"] if d["kind"] == "article")
    sites = {d["number"]: d for d in manifest["documents"] if d["kind"] == "source"}
    lines = [l.rstrip() for l in raw.replace("\r\n", "\n").split("\n")]

    def index_of(label: str) -> int:
        for i, line in enumerate(lines):
            if line.strip() == label:
                return i
        raise IngestError(f"the article has no '{label}' section: is corpus/{article_meta['file']} the original scrape?")

    title = article_meta["title"]
    start = next((i for i, l in enumerate(lines) if l.strip() == title), None)
    if start is None:
        raise IngestError(f"the article title was not found in corpus/{article_meta['file']}")
    points_label, sources_label = profile.section("points", "要点"), profile.section("sources", "来源")
    points_at, asked_at, sources_at = (index_of(points_label), index_of(profile.section("asked", "人们还问")),
                                       index_of(sources_label))
    body = _drop_chrome(lines[start:points_at], "zh-Hans", profile)
    points = [l.strip().lstrip("•*- ").strip() for l in lines[points_at + 1:asked_at] if l.strip()]
    entries = _parse_source_entries(lines[sources_at + 1:], sites)

    parts = ["\n\n".join(body), points_label, "\n".join("- " + p for p in points), sources_label,
             "\n".join(f"[{n}] {e['title']} ({e['site']})" for n, e in entries.items())]
    article = Document(
        doc_id=article_meta["id"], title=title, text="\n\n".join(parts) + "\n",
        url=article_meta.get("url"), site=article_meta.get("site"), language="zh-Hans",
        kind="article", origin=article_meta["file"],
        meta={"sources": {str(n): sites[n]["id"] for n in entries}})
    docs = [article]
    for n, e in entries.items():
        meta = sites[n]
        text = f"[{n}] {e['title']}\n{e['site']}\n\n{e['snippet']}\n"
        docs.append(Document(doc_id=meta["id"], title=e["title"], text=text, url=meta.get("url"),
                             site=e["site"], language=detect_language(e["snippet"]), kind="source",
                             origin=article_meta["file"], meta={"number": n}))
    return docs


def load_shipped_texts(corpus_dir: Path, manifest: dict) -> list[Document]:
    """The manifest's plain-text documents (every entry with a file that is not the
    scraped article), each read verbatim from corpus/ and reflowed (`reflow`)."""
    docs = []
    for meta in manifest["documents"]:
        if meta.get("kind") == "article" or not meta.get("file"):
            continue
        path = corpus_dir / meta["file"]
        try:
            raw = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise IngestError(f"{path}: cannot read a shipped document ({getattr(e, 'strerror', None) or e}); "
                              "restore it with `git checkout corpus/`") from None
        text = reflow(raw)
        keep = {k: meta[k] for k in ("version", "date") if meta.get(k)}
        docs.append(Document(doc_id=meta["id"], title=meta["title"], text=text, url=meta.get("url"),
                             site=meta.get("site"), language=meta.get("language") or detect_language(text),
                             kind=meta.get("kind", "text"), origin=meta["file"], meta=dict(keep, shipped=True)))
    return docs


_WRAPPED = 50       # a line this long that goes on in the next line was wrapped, not ended


def reflow(raw: str) -> str:
    """Plain text hard-wrapped at a fixed width (a licence, an RFC) as one line per
    paragraph: the indentation goes and a wrapped line joins the next with a space; short
    lines (a title block, an address) stay lines; blank lines still part paragraphs."""
    paragraphs = []
    for block in re.split(r"\n\s*\n", raw.replace("\r\n", "\n").strip("\n")):
        lines = [l.strip() for l in block.split("\n") if l.strip()]
        if not lines:
            continue
        out, previous = [lines[0]], lines[0]
        for line in lines[1:]:
            if len(previous) >= _WRAPPED:
                out[-1] += " " + line
            else:
                out.append(line)
            previous = line
        paragraphs.append("\n".join(out))
    return "\n\n".join(paragraphs) + "\n"


def _drop_chrome(lines: list[str], article_script: str, profile) -> list[str]:
    """Paragraphs of the article without page chrome (the profile's lines, line prefixes,
    counters and blocks, and bare domain lines). Lines in the other Chinese script are the
    image caption of the page's other-script edition, not the article."""
    chrome, counter = set(profile.article.get("chrome_lines", ())), profile.counter()
    blocks = set(profile.article.get("chrome_blocks", ()))
    prefixes = tuple(profile.article.get("chrome_prefixes", ()))
    kept, skip_block = [], False
    for line in lines:
        text = line.strip()
        if not text:
            skip_block = False
            continue
        if text in blocks:
            skip_block = True          # such a block (an image prompt) runs until the next blank line
            continue
        if skip_block or text in chrome or (counter and counter.match(text)) or _DOMAIN.match(text):
            continue
        if prefixes and text.startswith(prefixes):
            continue
        if len(text) > 8 and detect_language(text) not in (article_script, "en"):
            continue
        kept.append(text)
    return kept


def _parse_source_entries(lines: list[str], sites: dict) -> dict[int, dict]:
    entries: dict[int, dict] = {}
    current = None
    for line in lines:
        m = _SOURCE_ENTRY.match(line)
        if m:
            number = int(m.group(1))
            head = m.group(2)
            site = sites.get(number, {}).get("site") or _guess_site(head)
            title = head[: -len(site)].strip() if site and head.endswith(site) else head
            current = entries[number] = {"title": title, "site": site, "snippet": ""}
        elif current is not None and line.strip():
            current["snippet"] = (current["snippet"] + " " + line.strip()).strip()
    missing = set(sites) - set(entries)
    if missing:
        raise IngestError(f"the article's 来源 list lacks entries {sorted(missing)} named in corpus/manifest.json")
    return dict(sorted(entries.items()))


def _guess_site(head: str) -> str:
    m = re.search(r"([a-z0-9-]+(?:\.[a-z0-9-]+)+)$", head)
    return m.group(1) if m else ""
