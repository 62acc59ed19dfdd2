"""Bad input: every malformed source gets exactly one clear line (naming it, saying what
is wrong and what to do, no traceback), the good source given in the same run is
ingested, the run counts as failed (exit 1 from the CLI) and the index still loads and
answers as before. Also: GBK / Big5 / UTF-8 (with and without BOM), UTF-16 without a BOM,
CESU-8 and old Chinese pages in their declared charset decode correctly, a folder names
every file it leaves out, an unchanged re-ingest is skipped, and a folder of 2,000 tiny
files goes in.

Nothing here leaves the machine: URLs go to a local server on 127.0.0.1, and name
lookups other than 127.0.0.1 / localhost fail inside the test process."""
from __future__ import annotations

import http.server
import io
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest

from conftest import FakeEmbedder, cesu8, loopback_http
from rag import store
from rag.config import Settings
from rag.ingest import ingest
from rag.retrieve import Retriever
from rag.article import load_corpus_manifest

ROOT = Path(__file__).resolve().parents[2]
QUESTIONS = ["Gemma 4 用的是什么许可证？", "What sizes does Gemma 4 come in?", "Gemma 4 可以在手機上跑嗎？",
             "How hot should the water be for green tea?"]
GOOD_TEXT = ("# Tea notes\n\nGreen tea tastes best brewed at about 80 degrees Celsius for two minutes.\n\n"
             "Black tea wants water at a rolling boil and four minutes in the pot.\n")
BASELINE_TEXT = ("# Garden diary\n\nThe tomatoes were planted in April and gave fruit in July.\n\n"
                 "Basil grows well next to them and keeps some pests away.\n")
# What a failure line must end with: after its last "; ", an instruction.
ACTIONS = ("check", "point", "pass", "use", "save", "raise", "give", "add", "remove", "split", "rename", "try")
FETCH_TIMEOUT_S = 0.4
PAGE = ("<html><head><title>Local page</title></head><body><article><h1>Local page</h1>"
        "<p>This page is served by the test on the loopback interface. It talks about kettles, "
        "teapots and how long water takes to boil on a small camping stove.</p>"
        "<p>A second paragraph makes sure the extractor sees a real article body here.</p>"
        "</article></body></html>")
SCRIPTS_ONLY = ("<html><head><script>var config = {a: 1, b: 2};" + "track(config);" * 200 + "</script></head>"
                "<body><script>document.write('Hello from a script that renders the whole page');</script>"
                "<noscript></noscript></body></html>")
NAV_ONLY = ("<html><head><title>Example</title></head><body><header><nav>"
            + " | ".join(f"<a href='/s{i}'>Section {i} of the site</a>" for i in range(12))
            + "</nav></header><aside><ul>" + "".join(f"<li><a href='/t{i}'>Topic {i}</a></li>" for i in range(10))
            + "</ul></aside><footer>" + " ".join(f"<a href='/f{i}'>Footer link {i}</a>" for i in range(8))
            + "</footer></body></html>")


# ----------------------------------------------------------------- a local web server

class _Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _send(self, code: int, body: bytes, kind: str = "text/html; charset=utf-8") -> None:
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        path = self.path.split("?")[0]
        try:
            if path == "/good.html":
                self._send(200, PAGE.encode())
            elif path == "/missing.html":
                self._send(404, b"<html><body>not here</body></html>")
            elif path == "/broken.html":
                self._send(500, b"<html><body>oops</body></html>")
            elif path == "/slow.html":
                time.sleep(FETCH_TIMEOUT_S * 5)
                self._send(200, PAGE.encode())
            elif path == "/trickle.html":          # answers at once, then never finishes
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.end_headers()
                self.wfile.write(b"<html><body><p>")
                for _ in range(200):
                    self.wfile.write(b"a")
                    self.wfile.flush()
                    time.sleep(FETCH_TIMEOUT_S / 4)
            elif path == "/image.png":
                self._send(200, b"\x89PNG\r\n\x1a\n" + bytes(200), "image/png")
            elif path == "/scripts.html":
                self._send(200, SCRIPTS_ONLY.encode())
            elif path == "/loop":
                self.send_response(302)
                self.send_header("Location", "/loop")
                self.send_header("Content-Length", "0")
                self.end_headers()
            elif path == "/huge.html":
                self._send(200, b"<html><body><p>" + b"word " * 220_000 + b"</p></body></html>")
            else:
                self._send(404, b"no such page")
        except (BrokenPipeError, ConnectionResetError):
            pass


@pytest.fixture(scope="module")
def server():
    with loopback_http(_Handler) as url:
        yield url


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch):
    """No proxy, and no name lookup for anything but the loopback: `.invalid` names fail
    the way an unknown host does, and nothing else can leave the machine."""
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name not in ("127.0.0.1", "localhost", "::1"):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    for var in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "*")
    monkeypatch.setenv("NO_PROXY", "*")


# ----------------------------------------------------------------- a baseline index, copied per test

@dataclass
class Baseline:
    root: Path
    index: Path
    corpus: Path
    note: Path
    doc_ids: set[str]
    chunks: dict[str, tuple]
    answers_with_good: dict[str, list[str]]    # after adding only the good file to the baseline


def _settings(index: Path, corpus: Path, **overrides) -> Settings:
    values = dict(index_dir=index, corpus_dir=corpus, max_file_mb=1.0, fetch_timeout_s=FETCH_TIMEOUT_S)
    values.update(overrides)
    return Settings.from_env(**values)


def _answers(settings: Settings) -> dict[str, list[str]]:
    """The top three chunk texts for each question (texts, since a note's ids depend on its path)."""
    data = store.load_index(settings.index_dir)
    retriever = Retriever(data, FakeEmbedder(), settings)
    return {q: [h.text for h in retriever.search(q, k=3).hits] for q in QUESTIONS}


def _reference_answers(baseline: "Baseline", where: Path, good_sources: list[str]) -> dict[str, list[str]]:
    """What the index answers when only the good sources are added to the baseline."""
    shutil.copytree(baseline.index, where / "index", symlinks=True)
    shutil.copytree(baseline.corpus, where / "corpus")
    settings = _settings(where / "index", where / "corpus")
    report = ingest(settings, good_sources, embedder=FakeEmbedder(), progress=False)
    assert report.ok, report.failed
    return _answers(settings)


@pytest.fixture(scope="module")
def baseline(tmp_path_factory) -> Baseline:
    """The shipped corpus plus one note, built once with the fake embedder."""
    root = tmp_path_factory.mktemp("baseline")
    corpus = root / "corpus"
    shutil.copytree(ROOT / "corpus", corpus, ignore=shutil.ignore_patterns("cache"))
    note = root / "garden.md"
    note.write_text(BASELINE_TEXT, encoding="utf-8")
    settings = _settings(root / "index", corpus)
    report = ingest(settings, [str(note)], embedder=FakeEmbedder(), progress=False)
    shipped = len(load_corpus_manifest(corpus)["documents"])     # the article, its sources, the licence
    assert report.ok and len(report.added) == shipped + 1, report.failed
    data = store.load_index(settings.index_dir)
    base = Baseline(root=root, index=settings.index_dir, corpus=corpus, note=note, doc_ids=set(data.documents),
                    chunks={c.chunk_id: (c.text, data.vectors[i].tobytes()) for i, c in enumerate(data.chunks)},
                    answers_with_good={})
    (root / "ref").mkdir()
    (root / "ref" / "tea.txt").write_text(GOOD_TEXT, encoding="utf-8")
    base.answers_with_good = _reference_answers(base, root / "ref", [str(root / "ref" / "tea.txt")])
    assert any("80 degrees" in t for t in base.answers_with_good[QUESTIONS[-1]])
    return base


@pytest.fixture
def work(baseline, tmp_path) -> Callable[..., Settings]:
    """Settings on a private copy of the baseline index (and of the corpus, so fetched pages
    are cached in the temp dir, not the repository)."""
    shutil.copytree(baseline.index, tmp_path / "index", symlinks=True)
    corpus = tmp_path / "corpus"
    shutil.copytree(baseline.corpus, corpus)

    def make(**overrides) -> Settings:
        return _settings(tmp_path / "index", corpus, **overrides)
    return make


def _assert_index_as_before(settings: Settings, baseline: Baseline, extra_ids: set[str],
                            answers: dict[str, list[str]]) -> None:
    """Loads with checksums verified, still holds every old chunk with the same vector,
    holds the new documents and nothing else, and answers exactly as an index that was
    given only the good sources."""
    data = store.load_index(settings.index_dir)
    assert set(data.documents) == baseline.doc_ids | extra_ids
    now = {c.chunk_id: (c.text, data.vectors[i].tobytes()) for i, c in enumerate(data.chunks)}
    assert all(now.get(cid) == old for cid, old in baseline.chunks.items()), "old chunks or vectors changed"
    assert _answers(settings) == answers


# ----------------------------------------------------------------- the bad sources

@dataclass
class Case:
    id: str
    build: Callable[[Path, str, Path, Baseline], list[str]]   # (dir, server url, good file, baseline) -> sources
    name: Callable[[Path, str], str]                           # the source the line must start with
    problem: str                                               # regex the line must match
    settings: dict = field(default_factory=dict)


def _file(name: str, data: bytes | str, encoding: str = "utf-8"):
    def build(d: Path, url: str, good: Path, base: Baseline) -> list[str]:
        (d / name).write_bytes(data if isinstance(data, bytes) else data.encode(encoding))
        return [str(d / name)]
    return build


def _at(name: str):
    return lambda d, url: str(d / name)


def _url(path: str):
    return lambda d, url: url + path


def _fixed(source: str):
    return lambda d, url: source


def _symlink(name: str, target: str):
    def build(d, url, good, base):
        os.symlink(target, d / name)
        return [str(d / name)]
    return build


def _broken_link_in_folder(d, url, good, base):
    (d / "links").mkdir()
    os.symlink(d / "gone.txt", d / "links" / "dangling.txt")
    return [str(d / "links")]


def _folder_loop(d, url, good, base):
    (d / "tree").mkdir()
    (d / "tree" / "inside.txt").write_text("A note inside the looping folder, about bicycles and gears.\n")
    os.symlink("..", d / "tree" / "again")          # tree/again -> tree
    return [str(d / "tree")]


def _fifo(d, url, good, base):
    os.mkfifo(d / "pipe.txt")
    return [str(d / "pipe.txt")]


def _sparse(d, url, good, base):
    subprocess.run(["truncate", "-s", "50M", str(d / "huge.txt")], check=True)
    return [str(d / "huge.txt")]


def _empty_folder(d, url, good, base):
    (d / "nothing").mkdir()
    (d / "nothing" / "picture.jpg").write_bytes(b"\xff\xd8\xff")
    return [str(d / "nothing")]


def _copy_of_good(d, url, good, base):
    shutil.copy(good, d / "copy-of-tea.txt")
    return [str(d / "copy-of-tea.txt")]


def _copy_of_indexed(d, url, good, base):
    shutil.copy(base.note, d / "garden-again.md")
    return [str(d / "garden-again.md")]


def _undecodable_name(d, url, good, base):
    name = os.fsdecode(b"caf\xe9.txt")
    (d / name).write_text("A note whose file name is Latin-1, not UTF-8.\n")
    return [str(d / name)]


def _zip_bytes() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("a.txt", "hello " * 100)
    return buf.getvalue()


def _blank_pdf() -> bytes:
    import pypdf
    writer = pypdf.PdfWriter()
    writer.add_blank_page(612, 792)
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


def _locked_pdf() -> bytes:
    import pypdf
    writer = pypdf.PdfWriter()
    writer.add_blank_page(612, 792)
    writer.encrypt(user_password="secret", owner_password="owner", algorithm="RC4-128")
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


def _empty_docx() -> bytes:
    import docx
    buf = io.BytesIO()
    docx.Document().save(buf)
    return buf.getvalue()


def _stray_gbk_in_utf8() -> bytes:
    """UTF-8 Chinese with one GBK character: not UTF-8, and (the characters are chosen so)
    a valid GB18030 byte string that reads as mojibake."""
    text = "谷歌开放了模型，开发者可以下载并在自己的电脑上运行。這份筆記用來測試中文編碼的讀取是否正確。"
    chars = [c for c in dict.fromkeys(text) if "\u4e00" <= c <= "\u9fff" and 0x80 not in c.encode()]
    data = " ".join("".join(chars[i:i + 4]) for i in range(0, len(chars) - 3, 4)).encode() * 3
    return data[:30] + " 啊 ".encode("gbk") + data[30:]


_rng = random.Random(5)
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(_rng.randrange(256) for _ in range(4000))
CONTROL_BYTES = bytes(_rng.randrange(1, 32) for _ in range(4000))     # binary without a single NUL
MIXED = ("这一段是 UTF-8 编码的中文，讲的是开放模型。\n".encode() * 3
         + "这一段却是 GBK 编码的中文，内容完全不同。\n".encode("gbk") * 3)
GIBBERISH = "Café, naïve façade, déjà vu, Straße über alles, smörgåsbord.\n".encode("latin-1") * 5

CASES = [
    Case("empty-txt", _file("empty.txt", b""), _at("empty.txt"), r"empty \(0 bytes\)"),
    Case("empty-html", _file("empty.html", b""), _at("empty.html"), r"empty \(0 bytes\)"),
    Case("blank-md", _file("blank.md", "  \n\n\t  \n\n"), _at("blank.md"), r"only blank space"),
    Case("png-as-html", _file("photo.html", PNG), _at("photo.html"), r"binary file"),
    Case("executable-as-txt", _file("program.txt", Path(sys.executable).resolve().read_bytes()[:65536]),
         _at("program.txt"), r"binary file"),
    Case("zip-as-txt", _file("archive.txt", _zip_bytes()), _at("archive.txt"), r"binary file"),
    Case("control-bytes-as-txt", _file("noise.txt", CONTROL_BYTES), _at("noise.txt"), r"binary file"),
    Case("latin1-text", _file("latin1.txt", GIBBERISH), _at("latin1.txt"), r"neither UTF-8, GBK nor Big5"),
    Case("mixed-utf8-gbk", _file("mixed.txt", MIXED), _at("mixed.txt"), r"mixes UTF-8 with another encoding"),
    Case("html-only-scripts", _file("scripts.html", SCRIPTS_ONLY), _at("scripts.html"), r"no readable article text"),
    Case("html-only-navigation", _file("nav.html", NAV_ONLY), _at("nav.html"), r"no readable article text"),
    Case("html-empty-body", _file("bare.html", "<html><head><style>p{}</style></head><body></body></html>"),
         _at("bare.html"), r"no readable article text"),
    Case("over-configured-limit", _file("big.txt", ("line of text\n" * 85_000)), _at("big.txt"),
         r"1\.1 MB is over the 1 MB limit; raise RAG_MAX_FILE_MB"),
    Case("50mb-sparse-default-limit", _sparse, _at("huge.txt"), r"52\.4 MB is over the 20 MB limit",
         settings={"max_file_mb": 20.0}),
    Case("one-endless-line", _file("endless.txt", "lorem ipsum " * 75_000), _at("endless.txt"),
         r"one line runs 900,000 characters without a break"),
    Case("device-as-txt", _symlink("zeros.txt", "/dev/zero"), _at("zeros.txt"), r"not a regular file"),
    Case("fifo-as-txt", _fifo, _at("pipe.txt"), r"not a regular file"),
    Case("broken-symlink", _symlink("dangling.md", "/nonexistent/target.md"), _at("dangling.md"),
         r"broken symbolic link"),
    Case("broken-symlink-in-folder", _broken_link_in_folder, _at("links/dangling.txt"), r"broken symbolic link"),
    Case("symlink-loop-file", _symlink("self.txt", "self.txt"), _at("self.txt"), r"symbolic link loop"),
    Case("symlink-loop-folder", _folder_loop, _at("tree/again"), r"symbolic link loop \(it leads back to"),
    Case("broken-pdf", _file("paper.pdf", b"%PDF-1.4\n"), _at("paper.pdf"), r"cannot be read as a PDF"),
    Case("html-as-pdf", _file("page.pdf", "<html><body>hello</body></html>"), _at("page.pdf"), r"not a PDF file"),
    Case("scanned-pdf", _file("scan.pdf", _blank_pdf()), _at("scan.pdf"), r"the PDF has no text layer"),
    Case("password-pdf", _file("locked.pdf", _locked_pdf()), _at("locked.pdf"), r"protected by a password"),
    Case("zip-as-docx", _file("letter.docx", _zip_bytes()), _at("letter.docx"),
         r"a zip archive, not a Word document"),
    Case("word-97-as-docx", _file("old.docx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(1000)), _at("old.docx"),
         r"an old Word 97-2003 document"),
    Case("empty-docx", _file("empty.docx", _empty_docx()), _at("empty.docx"), r"the Word document holds no text"),
    Case("unsupported-xlsx", _file("budget.xlsx", _zip_bytes()), _at("budget.xlsx"),
         r"'\.xlsx' files are not supported; use \.pdf, \.docx"),
    Case("cesu8-lone-surrogates", _file("java.txt", ("导出的数据" + chr(0xD83D) + "没有配对\n").encode(
         "utf-8", "surrogatepass") * 5), _at("java.txt"), r"surrogate halves that do not pair up"),
    Case("utf8-with-a-stray-gbk-character", _file("stray.txt", _stray_gbk_in_utf8()), _at("stray.txt"),
         r"neither UTF-8, GBK nor Big5 \(read as any of them it comes out as mostly rare"),
    Case("no-extension", _file("README", "some text\n"), _at("README"), r"'no extension' files are not supported"),
    Case("missing-file", lambda d, url, good, base: [str(d / "not-there.txt")], _at("not-there.txt"),
         r"no such file or directory"),
    Case("folder-without-documents", _empty_folder, _at("nothing"),
         r"holds no \.pdf, \.docx, \.html, \.htm, \.txt or \.md files"),
    Case("newline-in-name", _file("bad\nname.txt", b""), lambda d, url: str(d) + "/bad\\nname.txt",
         r"empty \(0 bytes\)"),
    Case("undecodable-file-name", _undecodable_name, lambda d, url: str(d) + "/caf\\xe9.txt", r"not valid UTF-8"),
    Case("duplicate-in-same-run", _copy_of_good, _at("copy-of-tea.txt"), r"the same text as .*tea\.txt"),
    Case("duplicate-of-indexed", _copy_of_indexed, _at("garden-again.md"),
         r"the same text as .*garden\.md \(already indexed\)"),
    Case("url-404", lambda d, url, g, b: [url + "/missing.html"], _url("/missing.html"), r"answered 404"),
    Case("url-500", lambda d, url, g, b: [url + "/broken.html"], _url("/broken.html"), r"answered 500"),
    Case("url-times-out", lambda d, url, g, b: [url + "/slow.html"], _url("/slow.html"), r"no answer within 0\.4 s"),
    Case("url-never-finishes", lambda d, url, g, b: [url + "/trickle.html"], _url("/trickle.html"),
         r"did not finish loading within 1\.6 s"),
    Case("url-not-html", lambda d, url, g, b: [url + "/image.png"], _url("/image.png"),
         r"sent image/png, not a web page"),
    Case("url-only-scripts", lambda d, url, g, b: [url + "/scripts.html"], _url("/scripts.html"),
         r"no readable article text"),
    Case("url-redirect-loop", lambda d, url, g, b: [url + "/loop"], _url("/loop"),
         r"a redirect loop \(.*/loop -> .*/loop\); check the address"),
    Case("url-over-limit", lambda d, url, g, b: [url + "/huge.html"], _url("/huge.html"), r"over the 1 MB limit"),
    Case("url-does-not-resolve", lambda d, url, g, b: ["http://nonexistent.invalid/page.html"],
         _fixed("http://nonexistent.invalid/page.html"), r"host name does not resolve"),
    Case("url-connection-refused", lambda d, url, g, b: [f"http://127.0.0.1:{_closed_port()}/"],
         lambda d, url: "http://127.0.0.1:", r"cannot fetch it \(.*refused"),
    Case("scheme-file", lambda d, url, g, b: ["file:///etc/hostname"], _fixed("file:///etc/hostname"),
         r"only http:// and https://"),
    Case("scheme-javascript", lambda d, url, g, b: ["javascript:alert(1)"], _fixed("javascript:alert(1)"),
         r"only http:// and https://"),
    Case("scheme-data", lambda d, url, g, b: ["data:text/html,<p>hello there</p>"],
         _fixed("data:text/html,<p>hello there</p>"), r"only http:// and https://"),
    Case("scheme-ftp", lambda d, url, g, b: ["ftp://127.0.0.1/pub/file.txt"], _fixed("ftp://127.0.0.1/pub/file.txt"),
         r"only http:// and https://"),
    Case("url-without-host", lambda d, url, g, b: ["http:///path.html"], _fixed("http:///path.html"),
         r"with a host name"),
]


def test_at_least_thirty_cases():
    assert len(CASES) >= 30 and len({c.id for c in CASES}) == len(CASES)


def _check_line(line: str, name: str, problem: str) -> None:
    assert line.startswith(name), f"the line does not start with the source {name!r}: {line!r}"
    assert re.search(problem, line), f"the line does not say {problem!r}: {line!r}"
    assert "\n" not in line and "\r" not in line and "Traceback" not in line and 'File "' not in line, line
    assert "; " in line, f"the line does not say what to do: {line!r}"
    advice = line.rsplit("; ", 1)[1]
    assert advice.split()[0] in ACTIONS, f"the line does not end in an instruction: {line!r}"
    assert len(line) < 400, line


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_source_gets_one_clear_line_and_the_rest_goes_in(case, work, baseline, server, tmp_path):
    settings = work(**case.settings)
    d = tmp_path / "in"
    d.mkdir()
    good = d / "tea.txt"
    good.write_text(GOOD_TEXT, encoding="utf-8")
    sources = [str(good)] + case.build(d, server, good, baseline)

    started = time.perf_counter()
    report = ingest(settings, sources, embedder=FakeEmbedder(), progress=False)
    assert time.perf_counter() - started < 10

    assert not report.ok                                            # the CLI turns this into exit code 1
    assert len(report.failed) == 1, report.failed
    _check_line(report.failed[0], case.name(d, server), case.problem)
    good_ids = [i for i in report.added if i.startswith("tea-")]
    assert len(good_ids) == 1, report.added
    extra = set(report.added) if case.id == "symlink-loop-folder" else set(good_ids)   # its inside.txt is fine
    assert set(report.added) == extra
    answers = baseline.answers_with_good
    if case.id == "symlink-loop-folder":
        answers = _reference_answers(baseline, tmp_path / "ref", [str(good), str(d / "tree" / "inside.txt")])
    _assert_index_as_before(settings, baseline, extra, answers)


def test_several_bad_sources_in_one_run_each_get_their_own_line(work, baseline, server, tmp_path):
    settings = work()
    d = tmp_path / "in"
    d.mkdir()
    good = d / "tea.txt"
    good.write_text(GOOD_TEXT, encoding="utf-8")
    wanted = ("empty-txt", "png-as-html", "unsupported-pdf", "url-404", "scheme-javascript", "broken-symlink",
              "html-only-navigation")
    chosen = [c for c in CASES if c.id in wanted]
    sources = [str(good), server + "/good.html"]
    for c in chosen:
        sources += c.build(d, server, good, baseline)
    report = ingest(settings, sources, embedder=FakeEmbedder(), progress=False)
    assert len(report.failed) == len(chosen), report.failed
    for c, line in zip(chosen, report.failed):
        _check_line(line, c.name(d, server), c.problem)
    assert len(report.added) == 2                                   # the file and the page
    data = store.load_index(settings.index_dir)
    page = next(data.documents[i] for i in report.added if data.documents[i].url)
    assert page.url == server + "/good.html" and "camping stove" in page.text
    _assert_index_as_before(settings, baseline, set(report.added),
                            _reference_answers(baseline, tmp_path / "ref", [str(good), server + "/good.html"]))


# ----------------------------------------------------------------- the real CLI, once

def test_cli_exits_1_with_one_stderr_line_per_bad_source(work, baseline, server, tmp_path):
    settings = work()
    if not (Path(settings.embedder_path) / "modules.json").exists():
        pytest.skip("the embedder is not built: run `make setup`")
    d = tmp_path / "in"
    d.mkdir()
    good = d / "tea.txt"
    good.write_text(GOOD_TEXT, encoding="utf-8")
    (d / "empty.txt").write_bytes(b"")
    (d / "photo.html").write_bytes(PNG)
    (d / "paper.pdf").write_bytes(b"%PDF-1.4\n")
    (d / "folder").mkdir()
    (d / "folder" / "budget.xlsx").write_bytes(_zip_bytes())
    (d / "folder" / "note.md").write_text("# Hikes\n\nThe ridge trail takes four hours.\n", encoding="utf-8")
    bad = [str(d / "empty.txt"), str(d / "photo.html"), str(d / "paper.pdf"), str(d / "not-there.txt"),
           server + "/missing.html", "javascript:alert(1)"]
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", no_proxy="*", NO_PROXY="*",
               RAG_INDEX_DIR=str(settings.index_dir), RAG_CORPUS_DIR=str(settings.corpus_dir),
               RAG_FETCH_TIMEOUT_S="5")
    for var in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "PYTHONPATH"):
        env.pop(var, None)
    run = subprocess.run([sys.executable, "-m", "rag", "ingest", "--no-warm", str(good), str(d / "folder"), *bad],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stderr
    errors = [l for l in run.stderr.splitlines() if l.startswith("error: ")]
    assert len(errors) == len(bad), run.stderr
    for source in bad:
        assert sum(1 for l in errors if l.startswith(f"error: {source}:")) == 1, (source, run.stderr)
    assert "added 2," in run.stderr and f"failed {len(bad)}" in run.stderr
    assert [l for l in run.stderr.splitlines() if l.startswith("left out: ")] == [
        f"left out: {d / 'folder' / 'budget.xlsx'}: '.xlsx' files are not supported; "
        "use .pdf, .docx, .html, .htm, .txt or .md"]
    data = store.load_index(settings.index_dir)
    assert any(doc.origin == str(good.resolve()) for doc in data.documents.values())
    assert baseline.doc_ids < set(data.documents)


# ----------------------------------------------------------------- good input that is easy to get wrong

SIMPLIFIED = "# 开放模型笔记\n\n谷歌开放了 Gemma 4 模型，开发者可以下载并在自己的电脑上运行。\n\n这份笔记用来测试中文编码的读取是否正确。\n"
TRADITIONAL = "# 開放模型筆記\n\n谷歌開放了 Gemma 4 模型，開發者可以下載並在自己的電腦上執行。\n\n這份筆記用來測試中文編碼的讀取是否正確。\n"


@pytest.mark.parametrize("encoding,text,language", [
    ("gbk", SIMPLIFIED, "zh-Hans"),
    ("gb18030", SIMPLIFIED, "zh-Hans"),
    ("big5", TRADITIONAL, "zh-Hant"),
    ("utf-8", TRADITIONAL, "zh-Hant"),
    ("utf-8-sig", SIMPLIFIED, "zh-Hans"),
    ("utf-16", TRADITIONAL, "zh-Hant"),
    ("utf-16-le", SIMPLIFIED, "zh-Hans"),         # no byte-order mark
    ("utf-16-be", TRADITIONAL, "zh-Hant"),
    ("cesu-8", SIMPLIFIED.replace("笔记", "笔记 🎉"), "zh-Hans"),
])
def test_chinese_encodings_decode_correctly(encoding, text, language, work, tmp_path):
    settings = work()
    path = tmp_path / f"note-{encoding}.md"
    path.write_bytes(_cesu8(text) if encoding == "cesu-8" else text.encode(encoding))
    report = ingest(settings, [str(path)], embedder=FakeEmbedder(), progress=False)
    assert report.ok and len(report.added) == 1, report.failed
    doc = store.load_index(settings.index_dir).documents[report.added[0]]
    assert doc.text == text and doc.language == language
    assert doc.title == text.splitlines()[0].lstrip("# ")


def test_big5_html_page_decodes_correctly(work, tmp_path):
    settings = work()
    html = ("<html><head><meta charset='big5'><title>開放模型</title></head><body><article>"
            + "".join(f"<p>{line}</p>" for line in TRADITIONAL.splitlines()[2:] if line) + "</article></body></html>")
    path = tmp_path / "page.html"
    path.write_bytes(html.encode("big5"))
    report = ingest(settings, [str(path)], embedder=FakeEmbedder(), progress=False)
    assert report.ok, report.failed
    doc = store.load_index(settings.index_dir).documents[report.added[0]]
    assert "開發者可以下載並在自己的電腦上執行" in doc.text and doc.language == "zh-Hant"


_cesu8 = cesu8


OLD_SITE = ("<html><head><meta http-equiv='Content-Type' content='text/html; charset={charset}'>"
            "<title>{title}</title></head><body><div id='nav'><a href='/'>{home}</a></div><div class='content'>"
            "<h1>{title}</h1>{paragraphs}</div></body></html>")


@pytest.mark.parametrize("charset,codec,title,paragraphs,language", [
    ("gb2312", "gbk", "旧网站的许可说明", ["王喆说，这个模型按 Apache 2.0 许可发布，允许商业使用和修改。",   # 喆: GBK, not GB2312
                                          "使用者必须保留原始的版权声明，部署时不需要支付费用。"], "zh-Hans"),
    ("big5", "cp950", "舊網站的授權說明", ["這個模型依 Apache 2.0 授權發布，允許商業使用與修改。",
                                         "使用者必須保留原始的版權聲明，部署時不需要支付費用。"], "zh-Hant"),
])
def test_old_chinese_page_decodes_by_its_declared_charset(charset, codec, title, paragraphs, language, work, tmp_path):
    settings = work()
    html = OLD_SITE.format(charset=charset, title=title, home="首頁" if language == "zh-Hant" else "首页",
                           paragraphs="".join(f"<p>{p}</p>" for p in paragraphs))
    path = tmp_path / f"old-{charset}.htm"
    path.write_bytes(html.encode(codec))
    report = ingest(settings, [str(path)], embedder=FakeEmbedder(), progress=False)
    assert report.ok, report.failed
    doc = store.load_index(settings.index_dir).documents[report.added[0]]
    assert all(p in doc.text for p in paragraphs) and doc.language == language and doc.title == title


def test_folder_names_every_file_it_leaves_out_and_keeps_the_index(work, baseline, tmp_path):
    settings = work()
    folder = tmp_path / "mixed"
    (folder / "sub").mkdir(parents=True)
    (folder / "tea.txt").write_text(GOOD_TEXT, encoding="utf-8")
    (folder / "budget.xlsx").write_bytes(_zip_bytes())
    (folder / "sub" / "photo.png").write_bytes(PNG)
    (folder / ".notes.txt").write_text("a hidden note\n", encoding="utf-8")
    (folder / "letter.docx").write_bytes(_zip_bytes())          # a zip renamed .docx: read, and refused
    report = ingest(settings, [str(folder)], embedder=FakeEmbedder(), progress=False)
    assert not report.ok and len(report.failed) == 1, report.failed
    _check_line(report.failed[0], str(folder / "letter.docx"), r"a zip archive, not a Word document")
    assert len(report.left_out) == 3, report.left_out
    for name, why in [("budget.xlsx", r"'\.xlsx' files are not supported"), ("sub/photo.png", r"'\.png' files are not"),
                      (".notes.txt", r"a hidden file, not read")]:
        _check_line(next(l for l in report.left_out if l.startswith(str(folder / name) + ":")), str(folder / name), why)
    assert "left out 3 file(s)" in report.summary()
    good_ids = [i for i in report.added if i.startswith("tea-")]
    assert report.added == good_ids and len(good_ids) == 1
    _assert_index_as_before(settings, baseline, set(good_ids), baseline.answers_with_good)

    # Only left-out files besides good ones: the run succeeds (the CLI exits 0) and still names them.
    (folder / "letter.docx").unlink()
    again = ingest(settings, [str(folder)], embedder=FakeEmbedder(), progress=False)
    assert again.ok and again.skipped == good_ids and len(again.left_out) == 3


def test_reingest_of_unchanged_input_is_skipped(work, server, tmp_path):
    settings = work()
    folder = tmp_path / "notes"
    folder.mkdir()
    for i in range(3):
        (folder / f"n{i}.txt").write_text(f"Note {i} about hiking boots, size {40 + i}.\n", encoding="utf-8")
    gbk = tmp_path / "gbk.txt"
    gbk.write_bytes(SIMPLIFIED.encode("gbk"))
    sources = [str(folder), str(gbk), server + "/good.html"]
    first = ingest(settings, sources, embedder=FakeEmbedder(), progress=False)
    assert first.ok and len(first.added) == 5, first.failed
    version = store.current_path(settings.index_dir)

    embedder = FakeEmbedder()
    again = ingest(settings, sources, embedder=embedder, progress=False)
    assert again.ok and not again.added and not again.updated
    assert sorted(again.skipped) == sorted(first.added)
    assert embedder.embedded == []                                  # nothing re-embedded
    assert store.current_path(settings.index_dir) == version        # and no new index version written


def test_folder_of_two_thousand_tiny_files(work, baseline, tmp_path):
    settings = work()
    folder = tmp_path / "tiny"
    folder.mkdir()
    for i in range(2000):
        (folder / f"t{i:04d}.txt").write_text(f"Tiny note {i}: parcel {i} weighs {i * 7 % 97} grams.\n",
                                              encoding="utf-8")
    started = time.perf_counter()
    report = ingest(settings, [str(folder)], embedder=FakeEmbedder(), progress=False)
    elapsed = time.perf_counter() - started
    assert report.ok and len(report.added) == 2000, report.failed[:3]
    data = store.load_index(settings.index_dir)
    notes = [d for d in data.documents.values() if d.origin and d.origin.startswith(str(folder))]
    assert len(notes) == 2000 and len(data.documents) == len(baseline.doc_ids) + 2000
    assert sum(1 for c in data.chunks if c.doc_id in report.added) == 2000
    assert elapsed < 45, f"2,000 tiny files took {elapsed:.1f} s"
