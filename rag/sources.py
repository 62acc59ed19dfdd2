"""Load and clean documents: the shipped article (page chrome removed, its 来源 list split
into one document per cited source), HTML files and URLs through trafilatura, plain
text / Markdown read directly (each in the encoding it really has), PDF and Word through
`formats`. Hands on `Document`s with cleaned text."""
from __future__ import annotations

import atexit
import codecs
import errno
import hashlib
import http.client
import json
import os
import re
import selectors
import socket
import stat
import subprocess
import sys
import threading
import time
import unicodedata
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from .config import ROOT
from .errors import IngestError
from .files import atomic_write
from .text import HAN_CHARS, detect_language
from .types import Document

TEXT_SUFFIXES = {".txt", ".md", ".markdown"}
HTML_SUFFIXES = {".html", ".htm", ".xhtml"}
PDF_SUFFIXES = {".pdf"}
WORD_SUFFIXES = {".docx"}
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES | PDF_SUFFIXES | WORD_SUFFIXES
SUPPORTED_TYPES = ".pdf, .docx, .html, .htm, .txt or .md"     # for messages, help texts and the upload widget
MAX_LINE_CHARS = 200_000       # a text file with a longer line is not prose (one endless line)


# ----------------------------------------------------------------- the shipped article

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


# ----------------------------------------------------------------- user documents

def decode_bytes(data: bytes, name: str, declared: str | None = None, sniff_html: bool = True) -> str:
    """The bytes as text, in this order: a byte-order mark; UTF-16 without one (seen by
    its NUL bytes); the declared charset (`declared`, e.g. an HTTP header, else an HTML
    page's <meta charset> or XML declaration) unless the bytes are plainly UTF-8; UTF-8;
    CESU-8; else GB18030/GBK, Big5 or UTF-16, whichever reads as real text. A reading that
    comes out as mostly rare, private-use or unassigned characters is refused."""
    binary = f"{name}: looks like a binary file, not text or HTML; pass a .txt, .md or .html file"
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return _check_text(data.decode("utf-16", errors="replace"), binary)
    if b"\x00" in data[:4096]:
        sample = data[:4096]                       # ASCII in UTF-16LE puts the NULs at odd offsets
        order = ["utf-16-le", "utf-16-be"][::1 if sample[1::2].count(0) >= sample[0::2].count(0) else -1]
        for codec in order:
            try:
                text = _check_text(data.decode(codec), binary)
            except (UnicodeDecodeError, IngestError):
                continue
            if _plausible(text):
                return text
        raise IngestError(binary)
    if declared is None and sniff_html:
        declared = _declared_charset(data)
    codec = _codec(declared)
    if codec and codec != "utf-8" and (data.isascii() or not _is_utf8(data)):
        # A page saved again as UTF-8 often keeps its old declaration: plain UTF-8 wins.
        for candidate in [codec] + (["big5hkscs"] if codec == "cp950" else []):
            try:
                text = _check_text(data.decode(candidate), binary)
            except (UnicodeDecodeError, LookupError):
                continue
            if _plausible(text):
                return text
    try:
        return _check_text(data.decode("utf-8"), binary)
    except UnicodeDecodeError:
        pass
    cesu = _from_cesu8(data, name)
    if cesu is not None:
        return _check_text(cesu, binary)
    if _mixes_utf8(data):
        raise IngestError(f"{name}: mixes UTF-8 with another encoding (GBK or Big5) in one file; "
                          "save it as UTF-8 and try again")
    from charset_normalizer import from_bytes
    best = from_bytes(data, cp_isolation=["gb18030", "big5", "utf_8"]).best()
    readings = [str(best)] if best is not None and best.encoding else []
    for candidate in ("gb18030", "cp950", "big5hkscs", "utf-16-le", "utf-16-be"):
        try:
            readings.append(data.decode(candidate))
        except UnicodeDecodeError:
            continue
    for text in readings:
        try:
            text = _check_text(text, binary)
        except IngestError:
            continue
        if _plausible(text):
            return text
    if readings:
        raise IngestError(f"{name}: the text is neither UTF-8, GBK nor Big5 (read as any of them it comes out as "
                          "mostly rare or unassigned characters); save it as UTF-8 and try again")
    raise IngestError(f"{name}: the text is neither UTF-8, GBK nor Big5; save it as UTF-8 and try again")


_META_CHARSET = re.compile(rb"""<meta[^>]*?charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.I)
_XML_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._:-]+)""", re.I)
_LEGACY_NAMES = {"x-gbk": "gbk", "x-big5": "big5", "x-sjis": "shift_jis", "x-euc-jp": "euc_jp"}
# What a declared name means in practice (as browsers read it): GB2312 and GBK pages use
# the whole of GB18030, Big5 pages Microsoft's extensions, Latin-1 pages Windows-1252.
_SUPERSETS = {"gb2312": "gb18030", "gbk": "gb18030", "big5": "cp950", "iso8859-1": "cp1252", "ascii": "cp1252",
              "utf-16": "utf-8", "utf-16-le": "utf-8", "utf-16-be": "utf-8"}
_NOT_CHARSETS = {"idna", "punycode", "unicode-escape", "raw-unicode-escape", "undefined", "utf-7", "mbcs", "oem"}


def _declared_charset(data: bytes) -> str | None:
    """The charset an HTML or XML document names for itself in its first 4 KB."""
    head = data[:4096]
    m = _XML_ENCODING.match(head) or _META_CHARSET.search(head)
    return m.group(1).decode("ascii") if m else None


def _codec(label: str | None) -> str | None:
    """Python's codec for a declared charset name, or None for one it cannot use."""
    if not label:
        return None
    label = label.strip().lower()
    try:
        info = codecs.lookup(_LEGACY_NAMES.get(label, label))
    except LookupError:
        return None
    name = info.name.replace("_", "-")
    if not getattr(info, "_is_text_encoding", True) or name in _NOT_CHARSETS:
        return None
    return _SUPERSETS.get(name, name)


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def _from_cesu8(data: bytes, name: str) -> str | None:
    """CESU-8 (Java's and some databases' UTF-8, with characters beyond the BMP written
    as two encoded surrogates): the real characters. None when the bytes are not that."""
    try:
        text = data.decode("utf-8", errors="surrogatepass")
    except UnicodeDecodeError:
        return None
    try:
        return text.encode("utf-16-le", errors="surrogatepass").decode("utf-16-le")
    except UnicodeDecodeError:
        raise IngestError(f"{name}: holds UTF-8-encoded surrogate halves that do not pair up into characters "
                          "(broken CESU-8); save it as UTF-8 and try again") from None


def _unlikely(ch: str) -> bool:
    cp = ord(ch)
    return (ch == "\ufffd" or unicodedata.category(ch) in ("Co", "Cn", "Cs")
            or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x3FFFF or 0xE000 <= cp <= 0xF8FF)


def _plausible(text: str) -> bool:
    """Whether a reading in a guessed encoding looks like real text: few private-use,
    unassigned or rare-extension characters, and Chinese characters mostly among the
    6,763 of GB2312 (in their Simplified form). Text read in the wrong encoding fails both."""
    sample = text[:20000]
    other = [ch for ch in sample if ord(ch) > 0x7F]
    if not other:
        return True
    if sum(1 for ch in other if _unlikely(ch)) > max(2, len(other) // 10):
        return False
    han = "".join(ch for ch in other if "\u4e00" <= ch <= "\u9fff")
    if len(han) < 10:
        return True
    from .text import to_simplified
    simplified = to_simplified(han)
    rare = 0
    for ch in simplified:
        try:
            ch.encode("gb2312")
        except UnicodeEncodeError:
            rare += 1
    return rare <= len(simplified) // 4


def _check_text(text: str, binary_message: str) -> str:
    """Decoded text that is mostly control characters (a binary file without NUL bytes)
    or replacement characters is refused."""
    sample = text[:20000]
    bad = sum(1 for ch in sample if ch == "\ufffd" or (unicodedata.category(ch) == "Cc" and ch not in "\t\n\r\f\v"))
    if sample and bad > max(8, len(sample) // 20):
        raise IngestError(binary_message)
    return text


_UTF8_MULTIBYTE = re.compile(rb"(?:[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3})")


def _mixes_utf8(data: bytes) -> bool:
    """Bytes that are not UTF-8 as a whole but hold whole lines of UTF-8 text (three or more
    multi-byte characters) next to lines that are not UTF-8: two encodings in one file."""
    utf8_lines = other_lines = 0
    for line in data.splitlines():
        if line.isascii():
            continue
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            other_lines += 1
            continue
        if len(_UTF8_MULTIBYTE.findall(line)) >= 3:
            utf8_lines += 1
    return utf8_lines > 0 and other_lines > 0


def doc_id_for(origin: str) -> str:
    stem = re.sub(r"[^0-9A-Za-z\u4e00-\u9fff]+", "-", Path(urllib.parse.urlparse(origin).path).stem or "page")
    return f"{stem.strip('-')[:40] or 'doc'}-{hashlib.sha256(origin.encode()).hexdigest()[:8]}"


def load_text_file(path: Path, max_bytes: int) -> Document:
    data = read_limited(path, max_bytes)
    text = decode_bytes(data, str(path), sniff_html=False).replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise IngestError(f"{path}: the file holds only blank space; add some text or leave it out")
    longest = max(len(line) for line in text.split("\n"))
    if longest > MAX_LINE_CHARS:
        raise IngestError(f"{path}: one line runs {longest:,} characters without a break, which is not prose; "
                          "split it into lines or paragraphs and try again")
    title = _first_heading(text) or path.stem
    return Document(doc_id=doc_id_for(str(path.resolve())), title=title, text=text, url=None,
                    site=None, language=detect_language(text[:2000]), kind="note",
                    origin=str(path.resolve()))


def _first_heading(text: str) -> str | None:
    for line in text.splitlines():
        line = line.strip()
        if line:
            return line.lstrip("#").strip()[:120] or None
    return None


def html_to_document(html: str, origin: str, url: str | None) -> Document:
    """The article text of a page, extracted by trafilatura in a child process that is
    stopped after EXTRACT_BUDGET_S, so no page can hold the ingest (or the chat that
    shares its process) for longer than that."""
    meta = _extract_bounded(html, url, origin)
    text = meta["text"]
    if len(text) >= 20 and meta["link_share"] >= MAX_LINK_SHARE:
        raise IngestError(f"{origin}: no readable article text in the page ({meta['link_share']:.0%} of its "
                          f"{len(text):,} characters of text are links: a menu or a list of links); "
                          "give a page with the article itself, or save its text as .txt")
    if len(text) < 20 or (meta["link_share"] and meta["rest_letters"] < 20):
        raise IngestError(f"{origin}: no readable article text in the page (only scripts, menus or links); "
                          "give a page with the article itself, or save its text as .txt")
    refuse_wordless(text, origin)
    longest = max(len(line) for line in text.split("\n"))
    if longest > MAX_LINE_CHARS:
        raise IngestError(f"{origin}: the page's text runs {longest:,} characters without a paragraph break, "
                          "which is not an article; save the article's text as .txt with paragraphs")
    title = (meta.get("title") or "").strip() or Path(origin).stem
    return Document(doc_id=doc_id_for(origin), title=title, text=text + "\n", url=url or meta.get("url"),
                    site=meta.get("sitename") or meta.get("hostname"), language=detect_language(text[:2000]),
                    kind="page", origin=origin, meta={"date": meta.get("date")})


EXTRACT_BUDGET_S = 30.0     # wall time for one page's extraction; measured figures in docs/BENCHMARKS.md
MAX_LINK_SHARE = 0.8        # a page whose kept text is this much link text is a menu, not an article
MIN_WORD_SHARE = 0.1        # text with fewer letters/digits than this among its visible characters is markup


def _extract_bounded(html: str, url: str | None, origin: str) -> dict:
    """Run `_extract` in the extraction process and wait at most EXTRACT_BUDGET_S for it."""
    started = time.monotonic()
    try:
        status, result = _EXTRACTOR.run({"html": html, "url": url}, EXTRACT_BUDGET_S)
    except TimeoutError:
        size = f"{len(html) / 1e6:.1f} MB" if len(html) >= 100_000 else f"{len(html) / 1e3:.0f} KB"
        raise IngestError(f"{origin}: extracting the text of {size} of HTML took over "
                          f"{EXTRACT_BUDGET_S:g} s, so it was stopped; save the article's text as .txt "
                          "or give a smaller page") from None
    except (OSError, ValueError) as e:
        raise IngestError(f"{origin}: the HTML extractor stopped without an answer after "
                          f"{time.monotonic() - started:.1f} s ({_reason(e)}); save the article's text as .txt") from None
    if status != "ok":
        raise IngestError(f"{origin}: the HTML could not be parsed ({result}); "
                          "save the article's text as .txt or check the file")
    return result


class _Extractor:
    """One child process, started on first use and kept, that extracts one page at a time:
    a page that takes too long is stopped by killing the child, which leaves the caller
    (an ingest, or the chat server holding the model) untouched. Requests and answers
    are length-prefixed JSON on the child's stdin and stdout."""

    def __init__(self):
        self.proc: subprocess.Popen | None = None
        self.lock = threading.Lock()

    def _start(self) -> subprocess.Popen:
        code = (f"import sys; sys.path.insert(0, {str(_PACKAGE_ROOT)!r}); "
                "from rag.sources import _serve_extractions; _serve_extractions()")
        return subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, close_fds=True)

    def run(self, request: dict, budget_s: float) -> tuple[str, object]:
        deadline = time.monotonic() + budget_s
        with self.lock:
            if self.proc is None or self.proc.poll() is not None:
                self.proc = self._start()
            proc = self.proc
            try:
                payload = json.dumps(request, ensure_ascii=False).encode("utf-8", "surrogatepass")
                proc.stdin.write(len(payload).to_bytes(8, "big") + payload)
                proc.stdin.flush()
                size = int.from_bytes(self._read(proc, 8, deadline), "big")
                answer = json.loads(self._read(proc, size, deadline).decode("utf-8", "surrogatepass"))
            except BaseException:
                self.stop()
                raise
        return answer["status"], answer["result"]

    @staticmethod
    def _read(proc: subprocess.Popen, n: int, deadline: float) -> bytes:
        fd, parts, left = proc.stdout.fileno(), [], n
        with selectors.DefaultSelector() as selector:     # not select(): a server may hold over 1,024 fds
            selector.register(fd, selectors.EVENT_READ)
            while left:
                if not selector.select(max(0.0, deadline - time.monotonic())):
                    raise TimeoutError
                block = os.read(fd, min(left, 1 << 20))
                if not block:
                    raise OSError(f"the extractor exited with code {proc.wait()}")
                parts.append(block)
                left -= len(block)
        return b"".join(parts)

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for stream in (proc.stdin, proc.stdout):
            try:
                stream.close()
            except OSError:
                pass


_PACKAGE_ROOT = ROOT
_EXTRACTOR = _Extractor()
atexit.register(_EXTRACTOR.stop)


def _serve_extractions() -> None:
    """The extraction child's loop: read a request, answer it, until stdin closes."""
    requests, answers = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr                     # nothing but answers may reach the pipe
    while True:
        head = requests.read(8)
        if len(head) < 8:
            return
        request = json.loads(requests.read(int.from_bytes(head, "big")).decode("utf-8", "surrogatepass"))
        try:
            answer = {"status": "ok", "result": _extract(request["html"], request["url"])}
        except Exception as e:   # reported to the parent as one line
            answer = {"status": "error", "result": f"{type(e).__name__}: {e}"}
        payload = json.dumps(answer, ensure_ascii=False).encode("utf-8", "surrogatepass")
        answers.write(len(payload).to_bytes(8, "big") + payload)
        answers.flush()


def _extract(html: str, url: str | None) -> dict:
    import trafilatura
    raw = trafilatura.extract(html, url=url, output_format="json", with_metadata=True,
                              include_comments=False, include_tables=True, favor_recall=True)
    meta = json.loads(raw) if raw else {}
    text = (meta.get("text") or "").strip()
    link_letters, rest_letters = _link_letters(html, text)
    total = link_letters + rest_letters
    return {"text": text, "title": meta.get("title"), "url": meta.get("url"), "sitename": meta.get("sitename"),
            "hostname": meta.get("hostname"), "date": meta.get("date"),
            "link_share": link_letters / total if total else 0.0, "rest_letters": rest_letters}


_LETTER_RUN = re.compile(f"[{HAN_CHARS}]|[^\\W_{HAN_CHARS}]+")


def _link_letters(html: str, text: str) -> tuple[int, int]:
    """How many letters of the kept text are the text of links (menus, sidebars, footers)
    and how many are not. A link counts where its whole word sequence (Han characters one
    by one) appears in the text, at most as often as the page holds that link, so an
    article's words are not taken for a menu's just because they share characters."""
    try:
        import lxml.html
        tree = lxml.html.fromstring(html)
    except Exception:        # lxml refuses some odd documents; then trust trafilatura
        return 0, sum(len(w) for w in _LETTER_RUN.findall(text))
    from collections import Counter
    links = Counter()
    for a in tree.iter("a"):
        words = tuple(_LETTER_RUN.findall(a.text_content()))
        if words:
            links[words] += 1
    tokens = _LETTER_RUN.findall(text)
    if not links:
        return 0, sum(len(t) for t in tokens)
    lengths = sorted({len(words) for words in links}, reverse=True)
    firsts = {words[0] for words in links}
    link = rest = i = 0
    while i < len(tokens):
        if tokens[i] in firsts:
            for n in lengths:
                words = tuple(tokens[i:i + n])
                if len(words) == n and links.get(words, 0) > 0:
                    links[words] -= 1
                    link += sum(len(w) for w in words)
                    i += n
                    break
            else:
                rest += len(tokens[i])
                i += 1
        else:
            rest += len(tokens[i])
            i += 1
    return link, rest


_SPACE = re.compile(r"\s+")
_NOT_WORD = re.compile(r"[\W_]+")


def refuse_wordless(text: str, origin: str) -> None:
    """Text that is nearly all markup symbols (Markdown made of `#`, `---` and `>` only,
    rows of punctuation) is not a document: refuse it in one line."""
    visible = len(_SPACE.sub("", text))
    letters = len(_NOT_WORD.sub("", text))
    if visible and letters < max(1, MIN_WORD_SHARE * visible):
        shown = " ".join(sorted({ch for ch in text if not ch.isspace() and not ch.isalnum()})[:8])
        raise IngestError(f"{origin}: the text is nearly all markup symbols ({shown}), with "
                          f"{letters} letters or digits in {visible:,} characters; add the words "
                          "themselves or leave the file out")


def load_html_file(path: Path, max_bytes: int) -> Document:
    html = decode_bytes(read_limited(path, max_bytes), str(path))
    if not html.strip():
        raise IngestError(f"{path}: the file holds only blank space; add some HTML or leave it out")
    return html_to_document(html, str(path.resolve()), None)


def read_limited(path: Path, max_bytes: int) -> bytes:
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise IngestError(f"{path}: not a regular file (a device, pipe or socket); pass a normal file")
        size = info.st_size
        if size > max_bytes:
            raise IngestError(f"{path}: {size / 1e6:.1f} MB is over the {max_bytes / 1e6:g} MB limit; "
                              "raise RAG_MAX_FILE_MB to allow it")
        if size == 0:
            raise IngestError(f"{path}: the file is empty (0 bytes); add some text or leave it out")
        with open(path, "rb") as f:
            data = f.read(max_bytes + 1)
        if len(data) > max_bytes:      # it grew while we looked
            raise IngestError(f"{path}: over the {max_bytes / 1e6:g} MB limit; raise RAG_MAX_FILE_MB to allow it")
        return data
    except IngestError:
        raise
    except OSError as e:
        raise IngestError(f"{path}: cannot read it ({e.strerror or e}); check the path and permissions") from None


# ----------------------------------------------------------------- URLs

MAX_REDIRECTS = 10
USER_AGENT = "rag-offline/0.1 (+offline Q&A)"


def fetch_url(url: str, cache_dir: Path, timeout: float, max_bytes: int, refetch: bool = False) -> Document:
    """Fetch a page once and keep it under corpus/cache with its URL, fetch time, size and
    sha256, so later ingests of the same URL work offline. Only a body that arrived whole
    and gave a document is cached; a cached copy that does not match its record is
    fetched again."""
    parts = urllib.parse.urlparse(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise IngestError(f"{url}: only http:// and https:// addresses with a host name can be ingested; "
                          "give a web address or the path of a local file")
    key = hashlib.sha256(url.encode()).hexdigest()[:24]
    body_path, meta_path = cache_dir / f"{key}.html", cache_dir / f"{key}.json"
    html = None if refetch else _read_cache(body_path, meta_path)
    if html is not None:
        return html_to_document(html, url, url)
    html = _download(url, timeout, max_bytes)
    doc = html_to_document(html, url, url)        # a page refused here is not kept either
    body = html.encode("utf-8")
    cache_dir.mkdir(parents=True, exist_ok=True)
    # The record is written last and names the body's hash: a crash between the two
    # writes leaves a pair that does not match, which the next ingest fetches again.
    _atomic_write(body_path, body)
    _atomic_write(meta_path, json.dumps({"url": url, "fetched_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                         "bytes": len(body), "sha256": hashlib.sha256(body).hexdigest()},
                                        ensure_ascii=False).encode())
    return doc


def _read_cache(body_path: Path, meta_path: Path) -> str | None:
    """The cached page, or None when it is missing, damaged or was written before
    records carried a hash (such a copy may be a cut-short body)."""
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        body = body_path.read_bytes()
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict) or meta.get("sha256") != hashlib.sha256(body).hexdigest() \
            or meta.get("bytes") != len(body):
        return None
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Hands every redirect back as an HTTPError, so `_open` follows it itself: it checks
    each target's scheme and names a loop as one."""

    def http_error_302(self, req, fp, code, msg, headers):
        return None

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302


_OPENER = urllib.request.build_opener(_NoRedirect)
_REDIRECTS = (301, 302, 303, 307, 308)


def _open(url: str, timeout: float, deadline: float):
    """The response for `url` after following up to MAX_REDIRECTS http(s) redirects."""
    chain = [url]
    while True:
        request = urllib.request.Request(chain[-1], headers={"User-Agent": USER_AGENT})
        try:
            return _OPENER.open(request, timeout=max(0.1, min(timeout, deadline - time.monotonic())))
        except urllib.error.HTTPError as e:
            if e.code not in _REDIRECTS:
                raise
            location = e.headers.get("Location")
            e.close()
        if not location:
            raise IngestError(f"{url}: the server answered a redirect without saying where to; "
                              "check the address in a browser")
        target = urllib.parse.urljoin(chain[-1], location.strip())
        scheme = urllib.parse.urlparse(target).scheme.lower()
        if scheme not in ("http", "https"):
            raise IngestError(f"{url}: the server redirects to {_short(target)}, and only http:// and https:// "
                              "redirects are followed; give the address of the page itself")
        if target in chain:
            loop = " -> ".join(_short(u, 60) for u in chain[chain.index(target):] + [target])
            raise IngestError(f"{url}: a redirect loop ({loop}); check the address in a browser")
        if len(chain) > MAX_REDIRECTS:
            raise IngestError(f"{url}: more than {MAX_REDIRECTS} redirects in a row; check the address in a browser")
        if time.monotonic() > deadline:
            raise IngestError(f"{url}: the redirects did not end within {4 * timeout:g} s; try again later")
        chain.append(target)


def _short(url: str, limit: int = 100) -> str:
    return url if len(url) <= limit else url[:limit - 1] + "…"


def _download(url: str, timeout: float, max_bytes: int) -> str:
    """The page body, whole. `timeout` bounds each wait for the server; the whole download
    (redirects included) gets four times that, so a server that trickles bytes forever
    cannot hang the ingest. A body shorter than its Content-Length, or a chunked body cut
    off before its last chunk, is refused: nothing partial is returned or cached."""
    deadline = time.monotonic() + 4 * timeout
    try:
        with _open(url, timeout, deadline) as response:
            kind = response.headers.get_content_type()
            if kind not in ("text/html", "application/xhtml+xml", "text/plain"):
                raise IngestError(f"{url}: the server sent {kind}, not a web page; give the address of an HTML page")
            encoding = (response.headers.get("Content-Encoding") or "identity").strip().lower()
            if encoding != "identity":
                raise IngestError(f"{url}: the server sent the page {encoding}-encoded without being asked to; "
                                  "save the page from a browser and ingest the file")
            declared = response.length          # None when chunked or when no Content-Length was sent
            parts, size = [], 0
            while size <= max_bytes:
                if time.monotonic() > deadline:
                    raise IngestError(f"{url}: the page did not finish loading within {4 * timeout:g} s; "
                                      "try again later")
                try:
                    block = response.read1(65536)
                except http.client.IncompleteRead:
                    raise IngestError(f"{url}: the connection closed after {size:,} bytes, before the last chunk of "
                                      "the page, so it arrived incomplete and was not saved; try again later") from None
                if not block:
                    break
                parts.append(block)
                size += len(block)
            if size > max_bytes:
                raise IngestError(f"{url}: the page is over the {max_bytes / 1e6:g} MB limit; "
                                  "raise RAG_MAX_FILE_MB to allow it")
            if declared is not None and size < declared:
                raise IngestError(f"{url}: the connection closed after {size:,} of the {declared:,} bytes the server "
                                  "announced, so the page arrived incomplete and was not saved; try again later")
            data = b"".join(parts)
            charset = response.headers.get_content_charset()
    except urllib.error.HTTPError as e:
        hint = "try again later" if e.code >= 500 else "check the address"
        raise IngestError(f"{url}: the server answered {e.code} {e.reason}; {hint}") from None
    except urllib.error.URLError as e:
        reason = e.reason
        if isinstance(reason, socket.timeout):
            raise IngestError(f"{url}: no answer within {timeout:g} s; try again later") from None
        if isinstance(reason, socket.gaierror):
            raise IngestError(f"{url}: the host name does not resolve; check the address or your connection") from None
        raise IngestError(f"{url}: cannot fetch it ({_reason(reason)}); check the address or your connection") from None
    except (TimeoutError, socket.timeout):
        raise IngestError(f"{url}: no answer within {timeout:g} s; try again later") from None
    except (OSError, http.client.HTTPException) as e:
        raise IngestError(f"{url}: cannot fetch it ({_reason(e)}); check the address or your connection") from None
    return decode_bytes(data, url, declared=charset)


def _reason(e) -> str:
    return getattr(e, "strerror", None) or str(e) or type(e).__name__


def _atomic_write(path: Path, data: bytes) -> None:
    atomic_write(path, data, durable=True)


# ----------------------------------------------------------------- dispatch

def is_url(source: str) -> bool:
    return bool(re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", source)) and not os.path.exists(source) \
        and not re.match(r"^[A-Za-z]:[\\/]", source)


class LeftOut(str):
    """Why a folder walk did not read a file (a type it does not read, a hidden file):
    named in the report, but not a failure."""


def expand_sources(sources: list[str]) -> list[tuple[str, str | None]]:
    """Each source as (name, problem): directories walk recursively to their supported
    files and name every other file with a `LeftOut` reason; problems (missing path,
    loop, a named file of an unsupported type) are reported, not raised."""
    out: list[tuple[str, str | None]] = []
    for source in sources:
        if is_url(source):
            out.append((source, None))
            continue
        path = Path(source)
        if not _utf8_name(source):
            out.append((_printable(source), f"{_printable(source)}: the name is not valid UTF-8; rename it"))
        elif path.is_symlink() and not path.exists():
            out.append((source, _link_problem(path)))
        elif not path.exists():
            out.append((source, f"{source}: no such file or directory; check the path"))
        elif path.is_dir():
            found = _walk(path)
            out.extend(found)
            if not any(not isinstance(problem, LeftOut) for _, problem in found):
                out.append((source, f"{source}: the folder holds no {SUPPORTED_TYPES} files; "
                                    "check the folder or pass the files themselves"))
        else:
            out.append((str(path), _unsupported(path)))
    return out


def _utf8_name(name: str) -> bool:
    try:
        name.encode("utf-8")
        return True
    except UnicodeEncodeError:       # undecodable bytes in a file name (surrogate escapes)
        return False


def _printable(name: str) -> str:
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def _link_problem(path: Path) -> str:
    name = _printable(str(path))
    try:
        os.stat(path)
    except OSError as e:
        if e.errno == errno.ELOOP:
            return f"{name}: a symbolic link loop (the link leads back to itself); point it at a real file"
    return f"{name}: a broken symbolic link; point it at a real file"


def _walk(root: Path) -> list[tuple[str, str | None]]:
    found, seen_dirs = [], set()

    def unreadable(e: OSError) -> None:
        where = _printable(e.filename or str(root))
        found.append((where, f"{where}: cannot open the folder ({e.strerror or e}); check its permissions"))

    for dirpath, dirnames, filenames in os.walk(root, followlinks=True, onerror=unreadable):
        real = os.path.realpath(dirpath)
        if real in seen_dirs:
            if real in {os.path.realpath(p) for p in Path(dirpath).parents}:
                problem = f"a symbolic link loop (it leads back to {real})"
            else:
                problem = f"a second link to {real}, which was already read"
            found.append((dirpath, f"{dirpath}: {problem}; remove the link"))
            dirnames[:] = []
            continue
        seen_dirs.add(real)
        for name in sorted(d for d in dirnames if d.startswith(".")):
            shown = _printable(os.path.join(dirpath, name))
            found.append((shown, LeftOut(f"{shown}: a hidden folder, not read; pass it by name to include it")))
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            path = Path(dirpath) / name
            shown = _printable(str(path))
            if name.startswith("."):
                found.append((shown, LeftOut(f"{shown}: a hidden file, not read; pass it by name to include it")))
            elif path.is_symlink() and not path.exists():
                found.append((shown, _link_problem(path)))
            elif path.suffix.lower() not in SUPPORTED_SUFFIXES:
                found.append((shown, LeftOut(_unsupported(path, shown))))
            elif not _utf8_name(str(path)):
                found.append((shown, f"{shown}: the name is not valid UTF-8; rename it"))
            else:
                found.append((str(path), None))
    return found


_TYPE_ADVICE = {".doc": "save it as .docx", ".rtf": "save it as .docx", ".odt": "save it as .docx",
                ".wps": "save it as .docx", ".pages": "save it as .docx or PDF", ".epub": "save it as PDF"}


def _unsupported(path: Path, shown: str | None = None) -> str | None:
    suffix = path.suffix.lower()
    if suffix in SUPPORTED_SUFFIXES:
        return None
    advice = _TYPE_ADVICE.get(suffix, f"use {SUPPORTED_TYPES}")
    return f"{shown or path}: '{_printable(path.suffix) or 'no extension'}' files are not supported; {advice}"


def load_source(name: str, cache_dir: Path, max_bytes: int, timeout: float, refetch: bool = False) -> Document:
    if is_url(name):
        return fetch_url(name, cache_dir, timeout, max_bytes, refetch)
    path = Path(name)
    suffix = path.suffix.lower()
    if suffix in HTML_SUFFIXES:
        return load_html_file(path, max_bytes)
    if suffix in PDF_SUFFIXES | WORD_SUFFIXES:
        from . import formats
        load = formats.load_pdf if suffix in PDF_SUFFIXES else formats.load_docx
        return load(path, read_limited(path, max_bytes), doc_id_for(str(path.resolve())))
    return load_text_file(path, max_bytes)
