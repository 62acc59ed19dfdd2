"""PDF ingest throughput: pages per second for reading the text layer alone and for the whole
ingest (read + chunk + embed + atomic index write into a fresh temp index), beside the
embedder alone on the same chunks in the same run.

    python -m rag.devtools.bench_pdf [FILE.pdf ...]      # no file: print one from the shipped article

Without a file it prints a Chinese/English PDF of about 20 pages from the shipped article's
text with headless Chromium (which must be installed). Prints one JSON object."""
from __future__ import annotations

import json
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ..config import Settings


def _article_pdf(settings: Settings, out: Path, pages: int = 20) -> Path:
    from ..ingest import shipped_documents
    chromium = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
    if chromium is None:
        sys.exit("headless Chromium is not installed; give a PDF file instead")
    docs = shipped_documents(settings)
    paragraphs = [p for d in docs for p in d.text.split("\n\n") if p.strip()]
    body, size = [], 0
    while size < pages * 1300:               # about 1,300 characters fill an A4 page at 12 pt
        for p in paragraphs:
            body.append(f"<p>{p}</p>")
            size += len(p)
    html = out.with_suffix(".html")
    html.write_text("<!doctype html><html><head><meta charset='utf-8'><title>bench</title>"
                    "<style>body{font-family:'Noto Sans CJK SC',sans-serif;font-size:12pt}</style></head><body>"
                    + "".join(body) + "</body></html>", encoding="utf-8")
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                        "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
                        "--no-pdf-header-footer", f"--print-to-pdf={out}", html.as_uri()],
                       check=True, capture_output=True, timeout=300)
    return out


def run(paths: list[Path], settings: Settings) -> dict:
    from .. import formats
    from ..chunk import chunk_document
    from ..embed import Embedder
    from ..ingest import ingest
    pages, started = 0, time.perf_counter()
    chunks = []
    for path in paths:
        doc = formats.load_pdf(path, path.read_bytes(), path.stem)
        pages += len(doc.meta["page_starts"])
        chunks += chunk_document(doc, settings.chunk_size, settings.chunk_overlap)
    parse_s = time.perf_counter() - started
    embedder = Embedder(Path(settings.embedder_path), threads=settings.n_threads)
    embedder.passages(["warm up"])
    with tempfile.TemporaryDirectory() as tmp:
        # Sources given and no index yet: the shipped corpus goes in too; only the PDFs' time is wanted,
        # so the temp index is built with the corpus first.
        temp = Settings.from_env(index_dir=Path(tmp) / "index")
        ingest(temp, None, embedder=embedder, progress=False)
        started = time.perf_counter()
        report = ingest(temp, [str(p) for p in paths], embedder=embedder, progress=False)
        ingest_s = time.perf_counter() - started
    if not report.ok:
        sys.exit("; ".join(report.failed))
    texts = [c.text for c in chunks]
    started = time.perf_counter()
    for i in range(0, len(texts), 32):
        embedder.passages(texts[i:i + 32])
    embed_s = time.perf_counter() - started
    return {"pdf_pages": pages, "chunks": len(texts), "parse_pages_per_s": round(pages / parse_s, 1),
            "ingest_pages_per_s": round(pages / ingest_s, 2), "ingest_chunks_per_s": round(len(texts) / ingest_s, 1),
            "embedder_chunks_per_s": round(len(texts) / embed_s, 1),
            "embedder_pages_per_s": round(pages / embed_s, 2),
            "ingest_vs_embedder": round(embed_s / ingest_s, 2),
            "machine": f"{platform.machine()} {platform.processor() or ''}".strip()}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    settings = Settings.from_env()
    with tempfile.TemporaryDirectory() as tmp:
        paths = [Path(a) for a in args] or [_article_pdf(settings, Path(tmp) / "article.pdf")]
        print(json.dumps(run(paths, settings), ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
