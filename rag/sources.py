"""Load and clean documents: the shipped article (page chrome removed, its 来源 list split
into one document per cited source), HTML files and URLs through trafilatura, plain
text / Markdown read directly (each in the encoding it really has), PDF and Word through
`formats`. Hands on `Document`s with cleaned text."""
from __future__ import annotations

import codecs
import errno
import hashlib
import http.client
import json
import os
import re
import socket
import stat
import time
import unicodedata
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from .errors import IngestError
from .text import detect_language
from .types import Document

TEXT_SUFFIXES = {".txt", ".md", ".markdown"}
HTML_SUFFIXES = {".html", ".htm", ".xhtml"}
PDF_SUFFIXES = {".pdf"}
WORD_SUFFIXES = {".docx"}
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES | PDF_SUFFIXES | WORD_SUFFIXES
SUPPORTED_TYPES = ".pdf, .docx, .html, .htm, .txt or .md"     # for messages, help texts and the upload widget
FOOTNOTE = re.compile(r"\[(\d{1,2})\]")
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


_CHROME_LINES = {
    "studioglobal", "热门发现", "AI 提示", "Studio Global AI", "打开相关页面", "继续你的研究",
    "Search, cite, and publish your own answer", "使用 Studio Global AI 搜索并核查事实",
    "Use this topic as a starting point for a fresh source-backed answer, then compare citations before you share it.",
}
_COUNTER = re.compile(r"^[\d.,]+[KkMm万]?\d*$|^答案已发布\s*\d+\s*来源$")
_DOMAIN = re.compile(r"^[a-z0-9-]+(\.[a-z0-9-]+)+$")
_SOURCE_ENTRY = re.compile(r"^\s*[•*\-]?\s*\[(\d+)\]\s*(.+?)\s*$")


def clean_article(raw: str, manifest: dict) -> list[Document]:
    """Split the scraped page into the article and its cited sources.

    Chrome goes: the image caption and prompt, counters, the bare domain line,
    "人们还问" questions and related links, site boilerplate. The title, lede, body,
    要点 and the 来源 list stay; each 来源 entry becomes its own document."""
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
    points_at, asked_at, sources_at = index_of("要点"), index_of("人们还问"), index_of("来源")
    body = _drop_chrome(lines[start:points_at], article_script="zh-Hans")
    points = [l.strip().lstrip("•*- ").strip() for l in lines[points_at + 1:asked_at] if l.strip()]
    entries = _parse_source_entries(lines[sources_at + 1:], sites)

    parts = ["\n\n".join(body), "要点", "\n".join("- " + p for p in points), "来源",
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


def _drop_chrome(lines: list[str], article_script: str) -> list[str]:
    """Paragraphs of the article without page chrome. Lines in the other Chinese
    script are the image caption of the page's Traditional edition, not the article."""
    kept, skip_block = [], False
    for line in lines:
        text = line.strip()
        if not text:
            skip_block = False
            continue
        if text == "AI 提示":
            skip_block = True          # the image prompt runs until the next blank line
            continue
        if skip_block or text in _CHROME_LINES or _COUNTER.match(text) or _DOMAIN.match(text):
            continue
        if text.startswith("Create a landscape editorial hero image"):
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


def footnotes(text: str) -> list[int]:
    """The article's own [n] markers inside a piece of text, in order, without repeats."""
    seen: list[int] = []
    for m in FOOTNOTE.finditer(text):
        n = int(m.group(1))
        if n not in seen:
            seen.append(n)
    return seen


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
    import trafilatura
    raw = trafilatura.extract(html, url=url, output_format="json", with_metadata=True,
                              include_comments=False, include_tables=True, favor_recall=True)
    meta = json.loads(raw) if raw else {}
    text = (meta.get("text") or "").strip()
    if len(text) < 20 or _only_links(html, text):
        raise IngestError(f"{origin}: no readable article text in the page (only scripts, menus or links); "
                          "give a page with the article itself, or save its text as .txt")
    title = (meta.get("title") or "").strip() or Path(origin).stem
    return Document(doc_id=doc_id_for(origin), title=title, text=text + "\n", url=url or meta.get("url"),
                    site=meta.get("sitename") or meta.get("hostname"), language=detect_language(text[:2000]),
                    kind="page", origin=origin, meta={"date": meta.get("date")})


def _only_links(html: str, text: str) -> bool:
    """True when what trafilatura kept is navigation: every line with letters in it is the
    text of a link (menus, sidebars, footers), with under 20 letters of anything else."""
    try:
        import lxml.html
        tree = lxml.html.fromstring(html)
    except Exception:        # lxml refuses some odd documents; then trust trafilatura
        return False
    links = {" ".join(a.text_content().split()) for a in tree.iter("a")}
    links.discard("")
    if not links:
        return False
    rest = "".join(line for line in text.splitlines() if " ".join(line.split()) not in links)
    return len(re.sub(r"[\W_]+", "", rest)) < 20


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

def fetch_url(url: str, cache_dir: Path, timeout: float, max_bytes: int, refetch: bool = False) -> Document:
    """Fetch a page once and keep it under corpus/cache with its URL and fetch time,
    so later ingests of the same URL work offline."""
    parts = urllib.parse.urlparse(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise IngestError(f"{url}: only http:// and https:// addresses with a host name can be ingested; "
                          "give a web address or the path of a local file")
    key = hashlib.sha256(url.encode()).hexdigest()[:24]
    body_path, meta_path = cache_dir / f"{key}.html", cache_dir / f"{key}.json"
    if body_path.exists() and meta_path.exists() and not refetch:
        html = body_path.read_text(encoding="utf-8")
    else:
        html = _download(url, timeout, max_bytes)
        cache_dir.mkdir(parents=True, exist_ok=True)
        _atomic_write(body_path, html.encode("utf-8"))
        _atomic_write(meta_path, json.dumps({"url": url, "fetched_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
                                            ensure_ascii=False).encode())
    return html_to_document(html, url, url)


def _download(url: str, timeout: float, max_bytes: int) -> str:
    """The page body. `timeout` bounds each wait for the server; the whole download gets
    four times that, so a server that trickles bytes forever cannot hang the ingest."""
    request = urllib.request.Request(url, headers={"User-Agent": "rag-gemma4/0.1 (+offline Q&A)"})
    deadline = time.monotonic() + 4 * timeout
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            kind = response.headers.get_content_type()
            if kind not in ("text/html", "application/xhtml+xml", "text/plain"):
                raise IngestError(f"{url}: the server sent {kind}, not a web page; give the address of an HTML page")
            parts, size = [], 0
            while size <= max_bytes:
                if time.monotonic() > deadline:
                    raise IngestError(f"{url}: the page did not finish loading within {4 * timeout:g} s; "
                                      "try again later")
                block = response.read1(65536)
                if not block:
                    break
                parts.append(block)
                size += len(block)
            if size > max_bytes:
                raise IngestError(f"{url}: the page is over the {max_bytes / 1e6:g} MB limit; "
                                  "raise RAG_MAX_FILE_MB to allow it")
            data = b"".join(parts)
            charset = response.headers.get_content_charset()
    except urllib.error.HTTPError as e:
        if 300 <= e.code < 400:        # urllib gives up on redirect loops and too many redirects
            raise IngestError(f"{url}: the server answered {e.code} and keeps redirecting; "
                              "check the address in a browser") from None
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
    if charset:
        try:
            return data.decode(charset)
        except (LookupError, UnicodeDecodeError):
            pass
    return decode_bytes(data, url)


def _reason(e) -> str:
    return getattr(e, "strerror", None) or str(e) or type(e).__name__


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


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
