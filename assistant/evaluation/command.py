"""`assistant eval ...`: run an evaluation, report a run directory again, or compare two runs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from assistant.config import Settings
from assistant.errors import InputError
from assistant.evaluation.run import EvalOptions, Interrupted, print_warning, run_eval, write_outputs


def add_eval_parser(subparsers) -> None:
    """Add the `eval` subcommand (run, `compare` and `report`) to the CLI's subparsers."""
    p = subparsers.add_parser(
        "eval",
        help="answer a question file and score it; compare two runs",
        description="Evaluate the assistant on a question file or SQuAD v2, or compare two runs.",
        epilog=(
            "forms:\n"
            "  assistant eval QUESTIONS.jsonl --out RESULTS.jsonl [--index DIR] [-k N]\n"
            "  assistant eval QUESTIONS.jsonl --run-dir runs/NAME [--index DIR] [-k N]\n"
            "  assistant eval --squad dev-v2.0.json --run-dir runs/NAME [--single-index]\n"
            "  assistant eval compare RUN_A RUN_B [--metric hit@1 --max-drop 0.02]\n"
            "  assistant eval report RUN_DIR [--format md]\n"
            "Question files: JSONL (or .csv) with id and question, optional answers, evidence,\n"
            "answerable and tag. An interrupted run resumes when the same command is run again."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    # fmt: off
    p.add_argument("paths", nargs="*", metavar="QUESTIONS", help="question file (JSONL or CSV)")
    p.add_argument("--squad", type=Path, metavar="FILE", help="evaluate on a SQuAD v2 JSON file")
    p.add_argument("--out", type=Path, metavar="FILE", help="write answer records here")
    p.add_argument("--run-dir", type=Path, metavar="DIR",
                   help="write answers, metrics.json, report and plots here")
    p.add_argument("--index", type=Path, metavar="DIR", help="index to ask (question files)")
    p.add_argument("-k", type=int, help="passages to retrieve per question")
    p.add_argument("--mode", choices=("extractive", "generative"))
    p.add_argument("--single-index", action="store_true", help="SQuAD: one index for all articles")
    p.add_argument("--index-cache", type=Path, metavar="DIR",
                   help="SQuAD: where built indexes are kept (default RUN_DIR/indexes)")
    p.add_argument("--batch-size", type=int, default=EvalOptions.batch_size,
                   help=f"questions answered and saved together (default {EvalOptions.batch_size})")
    p.add_argument("--concurrency", type=int, default=1,
                   help="generative requests in flight (openai backend only)")
    p.add_argument("--restart", action="store_true", help="discard earlier answers, start over")
    p.add_argument("--format", choices=("html", "md"), default="html", help="report format")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--metric", help="compare: the metric that gates CI (default accuracy)")
    p.add_argument("--max-drop", type=float, metavar="X",
                   help="compare: exit 1 when the metric gets worse by more than X (default 0)")
    # fmt: on
    p.set_defaults(handler=run_eval_command)


def run_eval_command(args, settings: Settings) -> int:
    """Run `assistant eval` from parsed arguments; returns the exit code."""
    paths = list(args.paths)
    if paths[:1] == ["compare"]:
        from assistant.evaluation.compare import compare_command

        if len(paths) != 3:
            raise InputError("usage: assistant eval compare RUN_A RUN_B [--metric NAME --max-drop X]")
        return compare_command(Path(paths[1]), Path(paths[2]), args.metric, args.max_drop)
    if paths[:1] == ["report"]:
        if len(paths) != 2 or not Path(paths[1]).is_dir():
            raise InputError("usage: assistant eval report RUN_DIR (a directory from --run-dir)")
        write_outputs(Path(paths[1]), args.format)
        print(Path(paths[1]) / f"report.{args.format}")
        return 0
    if len(paths) > 1:
        raise InputError(f"give one question file, not {len(paths)}: {' '.join(paths)}")
    options = EvalOptions(
        questions=Path(paths[0]) if paths else None,
        squad=args.squad,
        out=args.out,
        run_dir=args.run_dir,
        index_dir=args.index,
        single_index=args.single_index,
        index_cache=args.index_cache,
        k=args.k,
        mode=args.mode,
        batch_size=args.batch_size,
        concurrency=args.concurrency,
        restart=args.restart,
        report_format=args.format,
        progress=not args.no_progress and sys.stderr.isatty(),  # no bar in a log
    )
    try:
        summary = run_eval(settings, options, warn=print_warning)
    except Interrupted as exc:
        again = " ".join(["assistant", *sys.argv[1:]]) if sys.argv[1:] else "the same command"
        print_warning(f"{exc}; answers so far are saved. Resume with: {again}")
        return 130
    print_warning(_summary_line(summary, options))
    return 0


def _summary_line(summary: dict[str, Any], options: EvalOptions) -> str:
    session = summary["session"]
    rate = session["answered"] / session["answer_s"] if session["answer_s"] else 0.0
    line = f"answered {summary['answered']} of {summary['total']} questions ({rate:.0f}/s)"
    if options.run_dir:
        m = summary["metrics"]["overall"]
        shown = [f"{k} {m[k]:.3f}" for k in ("hit@1", "mrr", "contains", "accuracy") if m.get(k) is not None]
        report = Path(options.run_dir) / f"report.{options.report_format}"
        line += f"; {', '.join(shown)}; report: {report}"
    else:
        line += f"; records in {options.out}"
    return line
