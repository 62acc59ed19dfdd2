"""Web addresses: a page fetched once (redirects followed and checked by hand, a time limit
for the whole download, nothing partial kept) and cached under corpus/cache with its URL,
time, size and sha256, so later ingests of the same URL work offline."""
from __future__ import annotations

import hashlib
import http.client
import json
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from .errors import IngestError
from .files import atomic_write
from .readtext import decode_bytes, os_reason
from .types import Document
from .webpage import html_to_document


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
        raise IngestError(f"{url}: cannot fetch it ({os_reason(reason)}); check the address or your connection") from None
    except (TimeoutError, socket.timeout):
        raise IngestError(f"{url}: no answer within {timeout:g} s; try again later") from None
    except (OSError, http.client.HTTPException) as e:
        raise IngestError(f"{url}: cannot fetch it ({os_reason(e)}); check the address or your connection") from None
    return decode_bytes(data, url, declared=charset)




def _atomic_write(path: Path, data: bytes) -> None:
    atomic_write(path, data, durable=True)
