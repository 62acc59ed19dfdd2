"""Reading a user's bytes as text that can be trusted: the file-size limit, the encoding the
bytes really have (a byte-order mark, UTF-16, a declared charset, UTF-8, CESU-8, GB18030, Big5),
and the checks that refuse what is not prose (binary, mojibake, one endless line, markup
symbols only), each in one line that says what to do. A document's id from its origin."""
from __future__ import annotations

import codecs
import hashlib
import re
import stat
import unicodedata
import urllib.parse
from pathlib import Path

from .errors import IngestError

MAX_LINE_CHARS = 200_000       # a text file with a longer line is not prose (one endless line)
MIN_WORD_SHARE = 0.1           # text with fewer letters/digits than this among its visible characters is markup


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
        text = _first_plausible(data, order, binary, (UnicodeDecodeError, IngestError))
        if text is None:
            raise IngestError(binary)
        return text
    if declared is None and sniff_html:
        declared = _declared_charset(data)
    codec = _codec(declared)
    if codec and codec != "utf-8" and (data.isascii() or not _is_utf8(data)):
        # A page saved again as UTF-8 often keeps its old declaration: plain UTF-8 wins.
        text = _first_plausible(data, [codec] + (["big5hkscs"] if codec == "cp950" else []), binary,
                                (UnicodeDecodeError, LookupError))
        if text is not None:
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


def _first_plausible(data: bytes, codecs: list[str], binary: str, skip: tuple) -> str | None:
    """The first of `codecs` that decodes `data` into plausible text (`skip`: the errors that
    only rule a codec out)."""
    for codec in codecs:
        try:
            text = _check_text(data.decode(codec), binary)
        except skip:
            continue
        if _plausible(text):
            return text
    return None


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


def doc_id_for(origin: str) -> str:
    stem = re.sub(r"[^0-9A-Za-z\u4e00-\u9fff]+", "-", Path(urllib.parse.urlparse(origin).path).stem or "page")
    return f"{stem.strip('-')[:40] or 'doc'}-{hashlib.sha256(origin.encode()).hexdigest()[:8]}"


def os_reason(e) -> str:
    """Why an OS or network call failed, in words."""
    return getattr(e, "strerror", None) or str(e) or type(e).__name__
