"""What the benchmark sections share within one run: models, data, built indexes, the eval run.

Everything is made on first use and kept, so `--only quality,throughput` builds the SQuAD indexes
and runs the evaluation once. The build section hands over what it built (and timed), so later
sections do not build again. Scratch files live in a temporary directory removed at the end.
"""

from __future__ import annotations

import shutil
import time
from functools import cached_property
from pathlib import Path
from typing import Any

from assistant import Settings
from bench.results import RESULTS, ROOT

DEFAULT_SQUAD = ROOT.parent / "shared" / "bench" / "squad2-dev-half-a.json"
EVAL_REPORT = RESULTS / "squad-eval"  # the evaluation report and its PNG plots (committed)


class Bench:
    """Lazily built shared state of one benchmark run."""

    def __init__(self, workdir: Path, squad: Path, reps: int) -> None:
        self.workdir = workdir
        self.squad = squad
        self.reps = reps
        # Product defaults, without a language model: the extractive figures must not pay for one.
        self.settings = Settings().with_(llm_backend="none")
        self.index_cache = workdir / "squad-indexes"  # a directory per article, as the runner has
        self._essay_index: Path | None = None
        self._essay_store = None
        self._squad_stores: list | None = None
        self._eval: dict[str, Any] | None = None
        self._assistants: dict[str, Any] | None = None

    # --- models and data ---

    @cached_property
    def embedder(self):  # noqa: ANN201 - assistant.embeddings.Embedder, loaded and warm
        from assistant.embeddings import load_embedder

        embedder = load_embedder()
        embedder.encode(["warm up the model"])
        embedder.encode_queries(["warm up the model"])
        return embedder

    @cached_property
    def lc_embeddings(self):  # noqa: ANN201 - the baseline's HuggingFaceEmbeddings, warm
        from bench import baseline

        embeddings = baseline.embeddings()
        embeddings.embed_query("warm up the model")
        return embeddings

    @cached_property
    def articles(self):  # noqa: ANN201 - list[assistant.evaluation.questions.Article]
        from assistant.evaluation.questions import read_squad

        return read_squad(self.squad)

    @property
    def essay_path(self) -> Path:
        return Path(self.settings.default_document)

    # --- the essay, both pipelines ---

    def essay_index(self, built: Path | None = None) -> Path:
        """The product's essay index (built here unless the build section hands one over)."""
        if built is not None:
            self._essay_index = built
        if self._essay_index is None:
            from assistant.assistant import build_documents

            self._essay_index = self.workdir / "essay-index"
            build_documents([self.essay_path], self._essay_index, self.settings, self.embedder)
        return self._essay_index

    def essay_assistant(self, **changes: Any):  # noqa: ANN201 - assistant.assistant.Assistant
        from assistant import Assistant

        settings = self.settings.with_(index_dir=self.essay_index(), **changes)
        return Assistant.from_settings(settings, embedder=self.embedder)

    def essay_store(self, built=None):  # noqa: ANN001, ANN201 - a LangChain FAISS store
        from bench import baseline

        if built is not None:
            self._essay_store = built
        if self._essay_store is None:
            text = self.essay_path.read_text(encoding="utf-8")
            self._essay_store, _ = baseline.build_store([text], self.lc_embeddings)
        return self._essay_store

    # --- SQuAD, both pipelines ---

    def squad_stores(self, built: list | None = None) -> list:
        """(article, LangChain store) per article, each article indexed on its own."""
        from bench import baseline

        if built is not None:
            self._squad_stores = built
        if self._squad_stores is None:
            self._squad_stores = [
                (a, baseline.build_store(["\n\n".join(a.paragraphs)], self.lc_embeddings)[0])
                for a in self.articles
            ]
        return self._squad_stores

    def article_index(self, article, cache: Path | None = None) -> tuple[Path, dict]:  # noqa: ANN001
        """Build (or find up to date) one SQuAD article's own index where the eval runner looks."""
        from assistant.evaluation.run import _slug  # the runner's directory names, so it reuses these
        from assistant.index import build_index
        from assistant.ingest import document_from_text

        directory = (cache or self.index_cache) / _slug(article.title)
        manifest = build_index(
            [document_from_text(article.title, "\n\n".join(article.paragraphs))],
            directory,
            self.embedder,
            chunk_chars=self.settings.chunk_chars,
            chunk_overlap=self.settings.chunk_overlap,
        )
        return directory, manifest

    def eval_run(self) -> dict[str, Any]:
        """The product's extractive evaluation of the whole SQuAD file (run_eval), once."""
        if self._eval is None:
            from assistant import EvalOptions, run_eval

            run_dir = self.workdir / "squad-eval"
            options = EvalOptions(
                squad=self.squad,
                run_dir=run_dir,
                index_cache=self.index_cache,
                restart=True,
                progress=False,
            )
            t0 = time.perf_counter()
            summary = run_eval(self.settings, options, warn=lambda message: None)
            summary["seconds"] = time.perf_counter() - t0
            _keep_report(run_dir, EVAL_REPORT)
            self._eval = {"summary": summary, "run_dir": run_dir}
        return self._eval

    def squad_assistants(self) -> dict[str, Any]:
        """Article title -> the product's Assistant over that article's own index."""
        if self._assistants is None:
            from assistant import Assistant

            self.eval_run()  # builds (or reuses) every article's index
            self._assistants = {}
            for directory in sorted(p for p in self.index_cache.iterdir() if p.is_dir()):
                settings = self.settings.with_(index_dir=directory)
                assistant = Assistant.from_settings(settings, embedder=self.embedder)
                (title,) = assistant.documents
                self._assistants[title] = assistant
        return self._assistants


def _keep_report(run_dir: Path, keep: Path) -> None:
    """Copy the run's report, plots and metrics (not its bulky answers file) to the results."""
    if keep.exists():
        shutil.rmtree(keep)
    keep.mkdir(parents=True)
    for path in run_dir.iterdir():
        if path.suffix in (".html", ".md", ".png") or path.name == "metrics.json":
            shutil.copy2(path, keep / path.name)
