"""Document formats benchmark: ingesting a 300-page text PDF, and PDFs nobody on the team made.

The 300-page PDF is typeset here with fpdf2 from the public-domain essays in bench/data/heldout/
(Stevenson, Lamb, Emerson), one after another as chapters until the book has 300 pages, laid out
as a book is: A5 pages, justified paragraphs, a running head (the book's title on even pages, the
chapter's on odd ones) and the page number at the foot. The real PDFs are Debian's own manuals
(libtasn1-doc and shared-mime-info, installed from Debian's archive); a missing one is skipped.

Extraction and ingest are measured in a child process, `python -m bench.documents BOOK WORKDIR`, so
that its peak resident memory (VmHWM) is that of an ingest alone: the embedding model loaded, then the
PDF read, chunked, embedded and written, as `assistant ingest` does.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from bench.context import Bench
from bench.results import ROOT, Section, row

PAGES = 300
ESSAYS = ["stevenson-idlers.txt", "lamb-roast-pig.txt", "emerson-prudence.txt"]
BOOK_TITLE = "Three Essays, Read Again and Again"
REAL_PDFS = {  # path -> where it comes from
    Path("/usr/share/doc/libtasn1-doc/libtasn1.pdf"):
        "Debian package libtasn1-doc (GNU Libtasn1 manual, texinfo)",
    Path("/usr/share/doc/shared-mime-info/shared-mime-info-spec.pdf"):
        "Debian package shared-mime-info (freedesktop.org specification)",
}
TARGET_RATIO = 0.8  # ingest speed against the embedding model's own on the same texts
TARGET_PEAK_MB = 1536.0


def write_book(path: Path, pages: int = PAGES) -> Path:
    """A `pages`-page book of the held-out essays, typeset with fpdf2."""
    from fpdf import FPDF

    chapters = []
    for name in ESSAYS:
        blocks = (ROOT / "bench" / "data" / "heldout" / name).read_text(encoding="utf-8").split("\n\n")
        chapters.append((blocks[0].strip().title(), [" ".join(b.split()) for b in blocks[1:] if b.strip()]))

    class Book(FPDF):
        chapter = ""

        def header(self) -> None:
            if self.page_no() > 1:
                self.set_font("helvetica", "I", 8)
                head = BOOK_TITLE if self.page_no() % 2 == 0 else self.chapter
                self.cell(0, 5, head, align="C", new_x="LMARGIN", new_y="NEXT")
                self.ln(3)

        def footer(self) -> None:
            self.set_y(-12)
            self.set_font("helvetica", size=8)
            self.cell(0, 6, str(self.page_no()), align="C")

    book = Book(format=(148, 210))  # A5
    book.set_margins(16, 14, 16)
    book.set_auto_page_break(True, margin=16)
    number = 0
    while True:
        for title, paragraphs in chapters:
            number += 1
            book.chapter = f"{number}. {title}"
            book.add_page()
            book.set_font("helvetica", "B", 13)
            book.multi_cell(0, 7, book.chapter, new_x="LMARGIN", new_y="NEXT")
            book.ln(3)
            book.set_font("helvetica", size=10)
            for paragraph in map(_latin1, paragraphs):
                if book.page_no() >= pages:  # the last page: stop at the paragraph that would not fit
                    lines = book.multi_cell(0, 5, paragraph, align="J", dry_run=True, output="LINES")
                    if book.get_y() + 5 * len(lines) > book.page_break_trigger:
                        path.write_bytes(bytes(book.output()))
                        return path
                book.multi_cell(0, 5, paragraph, align="J", new_x="LMARGIN", new_y="NEXT")
                book.ln(2)


def _latin1(text: str) -> str:
    """The core PDF fonts hold Latin-1; curly quotes and dashes become their plain forms."""
    plain = text.translate(str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"',
                                          "\u2014": "--", "\u2013": "-", "\u2026": "..."}))
    return plain.encode("latin-1", "replace").decode("latin-1")


def pdf_ingest(b: Bench) -> Section:
    """Pages/s of extraction and of the whole ingest, the model's own speed, and peak memory."""
    from assistant.ingest import chunk_document, read_document

    section = Section("pdf", "Document formats: ingesting a 300-page PDF")
    book = write_book(b.workdir / "book.pdf")
    # The model alone on exactly what the ingest embeds (every passage and distinct sentence), here,
    # before and after the ingest runs in its own process, so that a change of load shows.
    s = b.settings
    doc = read_document(book)
    chunks = chunk_document(doc, s.chunk_chars, s.chunk_overlap)
    passages = [c.text for c in chunks]
    sentences = [doc.text[start:end] for start, end in sorted({x for c in chunks for x in c.sentences})]

    def model_alone() -> tuple[float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        b.embedder.encode(passages)
        b.embedder.encode(sentences)
        return time.perf_counter() - wall, time.process_time() - cpu

    alone = [model_alone()]
    done = subprocess.run(
        [sys.executable, "-m", "bench.documents", str(book), str(b.workdir / "pdf-work")],
        cwd=ROOT, capture_output=True, text=True, timeout=1800, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        section.skipped = f"the worker failed: {done.stderr.strip().splitlines()[-1:]}"
        return section
    alone.append(model_alone())
    m = json.loads(done.stdout.strip().splitlines()[-1])
    assert (m["passages"], m["sentences"]) == (len(passages), len(sentences))
    pages = m["pages"]
    (before, before_cpu), (after, after_cpu) = alone
    alone_rate = pages / ((before + after) / 2)
    ingest = pages / m["ingest_s"]
    cpu_ratio = ((before_cpu + after_cpu) / 2) / m["ingest_cpu_s"]
    section.rows += [
        row(f"300-page PDF: extraction alone ({pages} pages, {m['chars']:,} characters, "
            f"{m['paragraphs']} paragraphs)", pages / m["extract_s"], "{:.0f} pages/s"),
        row(f"whole ingest: extract, chunk, embed, write ({m['passages']} passages, "
            f"{m['sentences']} sentences)", ingest, "{:.2f} pages/s"),
        row(f"embedding model alone on the same passages and sentences (mean of {before:.0f} s "
            f"before and {after:.0f} s after the ingest)", alone_rate, "{:.2f} pages/s"),
        row("whole ingest / model alone", ingest / alone_rate, "{:.2f}x", target=(">=", TARGET_RATIO)),
        row("the same in CPU time (all threads; less sensitive to the machine's load)", cpu_ratio,
            "{:.2f}x"),
        row("peak resident memory of the ingest (model loaded, then the PDF ingested)",
            m["peak_mb"], "{:.0f} MB", target=("<=", TARGET_PEAK_MB)),
        row("of which before the PDF was read (the model loaded)", m["model_mb"], "{:.0f} MB"),
        row("running heads and page numbers left in the text (of "
            f"{m['furniture_printed']} printed)", m["furniture_left"], "{:.0f}"),
    ]
    section.tables.append(_real_table(m["real"]))
    section.notes += [
        f"The book: {', '.join(ESSAYS)} (bench/data/heldout/, public domain) typeset again and "
        f"again as chapters by `bench/documents.py` with fpdf2: A5, 10 pt justified text, a "
        "running head (the book's title on even pages, the chapter on odd ones) and the page "
        "number at the foot.",
        "Extraction and ingest are measured in a child process that loads the embedding model, warms "
        "it, reads the PDF (`read_document`: PDFium's text and line boxes, paragraphs, page "
        "furniture removed, text repaired, pages mapped) and then ingests it (`build_documents` "
        "into an empty index, as `assistant ingest` does); its peak memory is its VmHWM after "
        "the ingest. The model alone embeds exactly the passages and distinct sentences the "
        "ingest embeds, in the benchmark's own process, once before and once after the child runs.",
    ]
    return section


def _real_table(real: list[dict]) -> str:
    lines = ["| real PDF | where it comes from | pages | page labels | extraction | ingest | "
             "passages | running heads and page numbers left |", "|---|---|---|---|---|---|---|---|"]
    for r in real:
        if r.get("missing"):
            lines.append(f"| `{r['path']}` | {r['origin']} | not installed | | | | | |")
            continue
        lines.append(
            f"| `{r['path']}` | {r['origin']} | {r['pages']} | {r['labels']} | "
            f"{r['pages'] / r['extract_s']:.0f} pages/s | {r['pages'] / r['ingest_s']:.2f} pages/s | "
            f"{r['passages']} | {r['furniture_left']} |"
        )
    return "\n".join(lines)


# --- the child process --------------------------------------------------------------------------


def _measure(book: Path, workdir: Path) -> dict:
    from assistant.assistant import build_documents
    from assistant.config import Settings, apply_offline_env
    from assistant.embeddings import load_embedder
    from assistant.ingest import read_document

    apply_offline_env()
    settings = Settings().with_(llm_backend="none")
    embedder = load_embedder()
    embedder.encode(["warm up the model"])
    model_mb = _peak_mb()

    t0 = time.perf_counter()
    doc = read_document(book)
    extract_s = time.perf_counter() - t0
    wall, cpu = time.perf_counter(), time.process_time()
    manifest = build_documents([book], workdir / "book-index", settings, embedder)
    ingest_s, ingest_cpu = time.perf_counter() - wall, time.process_time() - cpu
    peak_mb = _peak_mb()

    printed = len(doc.pages) * 2 - 1  # a head on every page but the first, a number on every page
    real = []
    for path, origin in REAL_PDFS.items():
        if not path.exists():
            real.append({"path": str(path), "origin": origin, "missing": True})
            continue
        t0 = time.perf_counter()
        real_doc = read_document(path)
        real_extract = time.perf_counter() - t0
        t0 = time.perf_counter()
        real_manifest = build_documents([path], workdir / f"{path.stem}-index", settings, embedder)
        real.append({
            "path": str(path), "origin": origin, "pages": len(real_doc.pages),
            "labels": ", ".join(label for *_span, label in real_doc.pages[:4]) + ", ...",
            "extract_s": real_extract, "ingest_s": time.perf_counter() - t0,
            "passages": real_manifest["counts"]["chunks"],
            "furniture_left": _furniture_left(real_doc),
        })  # fmt: skip
    return {
        "pages": len(doc.pages), "chars": len(doc.text), "paragraphs": len(doc.paragraphs),
        "passages": manifest["counts"]["chunks"], "sentences": manifest["counts"]["sentences"],
        "extract_s": extract_s, "ingest_s": ingest_s, "ingest_cpu_s": ingest_cpu,
        "model_mb": model_mb, "peak_mb": peak_mb, "furniture_printed": printed,
        "furniture_left": _furniture_left(doc), "real": real,
    }  # fmt: skip


def _furniture_left(doc) -> int:  # noqa: ANN001 - a schema.Document
    """Running heads and page numbers still in the text: paragraphs that are a bare number, the
    book's title, a chapter's title more often than its own heading, and heads with a number
    (texinfo's "Chapter 2: ASN.1 structure handling 3")."""
    import re
    from collections import Counter

    paragraphs = [doc.text[start:end] for start, end in doc.paragraphs]
    bare = sum(bool(re.fullmatch(r"\d{1,4}|[ivxlc]{1,6}", p)) for p in paragraphs)
    heads = sum(p.startswith(BOOK_TITLE) or bool(re.match(r"Chapter \d+: .* \d+$", p)) for p in paragraphs)
    chapters = Counter(re.findall(r"\d+\. (?:An Apology For Idlers|A Dissertation Upon Roast Pig|Prudence)",
                                  doc.text))
    return bare + heads + doc.text.count(BOOK_TITLE) - sum(p.startswith(BOOK_TITLE) for p in paragraphs) \
        + sum(n - 1 for n in chapters.values())


def _timed(work) -> tuple[float, float]:  # noqa: ANN001
    """Wall-clock and CPU seconds (all threads) of `work()`."""
    wall, cpu = time.perf_counter(), time.process_time()
    work()
    return time.perf_counter() - wall, time.process_time() - cpu


def _peak_mb() -> float:
    """This process's peak resident memory (VmHWM). Not ru_maxrss: Linux carries that over an exec
    from the parent, here the benchmark with its own model loaded."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


if __name__ == "__main__":
    import warnings

    warnings.filterwarnings("ignore", category=DeprecationWarning)
    book_path, work = Path(sys.argv[1]), Path(sys.argv[2])
    work.mkdir(parents=True, exist_ok=True)
    print(json.dumps(_measure(book_path, work)))
