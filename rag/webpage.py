"""HTML to a `Document`: the article text of a page, extracted by trafilatura in one
long-lived child process that is killed and replaced when a page runs over its time budget,
so no page can hold an ingest (or the chat that shares its process) for long; a page that is
mostly links (a menu) or holds no words is refused in one line."""
from __future__ import annotations

import atexit
import json
import os
import re
import selectors
import subprocess
import sys
import threading
import time
from pathlib import Path

from .config import ROOT
from .errors import IngestError
from .readtext import MAX_LINE_CHARS, decode_bytes, doc_id_for, os_reason, read_limited, refuse_wordless
from .text import HAN_CHARS, detect_language
from .types import Document


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
                          f"{time.monotonic() - started:.1f} s ({os_reason(e)}); save the article's text as .txt") from None
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
                "from rag.webpage import _serve_extractions; _serve_extractions()")
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


def load_html_file(path: Path, max_bytes: int) -> Document:
    html = decode_bytes(read_limited(path, max_bytes), str(path))
    if not html.strip():
        raise IngestError(f"{path}: the file holds only blank space; add some HTML or leave it out")
    return html_to_document(html, str(path.resolve()), None)
