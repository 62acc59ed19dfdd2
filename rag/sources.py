"""Which sources an ingest reads, and each one as a `Document`: a folder walked to its
supported files (everything else named with the reason it was left out), then each file or
address by its kind: plain text / Markdown here (in the encoding it really has,
readtext.py), HTML through webpage.py, web addresses through fetch.py, PDF and Word through
formats.py. The shipped article is read by article.py."""
from __future__ import annotations

import errno
import os
import re
from pathlib import Path

from .errors import IngestError
from .fetch import fetch_url
from .readtext import MAX_LINE_CHARS, decode_bytes, doc_id_for, read_limited
from .text import detect_language
from .types import Document
from .webpage import load_html_file

TEXT_SUFFIXES = {".txt", ".md", ".markdown"}
HTML_SUFFIXES = {".html", ".htm", ".xhtml"}
PDF_SUFFIXES = {".pdf"}
WORD_SUFFIXES = {".docx"}
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES | PDF_SUFFIXES | WORD_SUFFIXES
SUPPORTED_TYPES = ".pdf, .docx, .html, .htm, .txt or .md"     # for messages, help texts and the upload widget


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
