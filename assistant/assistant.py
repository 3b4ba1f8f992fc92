"""The facade and single composition root: settings in, cited answers out.

Every front end (CLI, Gradio UI, HTTP API, batch evaluation) talks to `Assistant` and nothing else.
This is the only place that wires the embedding model, the index, the retriever, the answer
composer and the language model together.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from assistant import structure
from assistant.answer import Selection, document_words, refusal, render, select
from assistant.config import Settings
from assistant.errors import InputError, ModelError
from assistant.followup import asks_page_of_that, with_history
from assistant.index import LoadedIndex, build_index, load_index
from assistant.ingest import read_document
from assistant.retrieval import Hits, HybridRetriever
from assistant.schema import Answer, Chunk, Document, Turn
from assistant.sentences import listing
from assistant.verify import VERDICT

log = logging.getLogger(__name__)

MAX_K = 50
PART_NOTICE = "For the essay's thesis, parts and pages, Explain quotes the essay's own words."
STOPPED = "Stopped."  # the notice of a generation stopped before any sentence could be verified


class Assistant:
    """Answers questions about the documents of one index."""

    def __init__(self, settings: Settings, index: LoadedIndex, embedder, generator=None) -> None:
        self.settings = settings
        self.index = index
        self.embedder = embedder
        self.retriever = HybridRetriever(index, embedder, ignore=structure.DOCUMENT_WORDS)
        self._texts = {name: doc.text for name, doc in index.documents.items()}
        self._words = document_words(list(self._texts.values()))
        # "What is on page 3?" of a document with no page citations is an ordinary question.
        self._cites_pages = any(chunk.citations for chunk in index.chunks)
        self._names = structure.document_names(index)  # "the lecture" of lecture.md and poem.txt
        self._chunk_index = {c.chunk_id: i for i, c in enumerate(index.chunks)}
        self._generator = generator
        self._generator_error: str | None = None
        self._generator_lock = threading.Lock()
        self._warming = threading.Event()  # warm_up_in_background is loading the model

    @classmethod
    def from_settings(cls, settings: Settings, *, embedder=None) -> Assistant:
        """Load (or, for the default index, first build) the index and wire the assistant."""
        from assistant.embeddings import load_embedder

        embedder = embedder or load_embedder(settings.model_cache)
        ensure_default_index(settings, embedder)
        return cls(settings, load_index(settings.index_dir, embedder), embedder)

    # --- what the front ends show ---------------------------------------------------------------

    @property
    def documents(self) -> dict[str, Document]:
        return self.index.documents

    @property
    def chunks(self) -> list[Chunk]:
        return self.index.chunks

    @property
    def generative_available(self) -> bool:
        """Whether Explain can be offered; loads the model, unless it is already loading in the
        background (then a configured backend counts, and a failed load falls back later)."""
        if self._warming.is_set() and self._generator is None and self._generator_error is None:
            return self.settings.llm_backend != "none"
        return self._load_generator() is not None

    def warm_up(self) -> None:
        """Load the models and fill caches so the first student does not wait."""
        self.retriever.search("warm up", 1)
        generator = self._load_generator()
        if generator is not None:
            generator.warm_up()

    def warm_up_in_background(self, after: threading.Event | None = None) -> threading.Thread:
        """Start `warm_up` in a daemon thread (once `after` is set), so a server can answer quotes
        while the LLM loads."""
        self._warming.set()

        def run() -> None:
            try:
                if after is not None:
                    after.wait()
                self.warm_up()
            except Exception:  # the first Explain answer reports it (and falls back to quotes)
                log.exception("warming up the language model failed")
            finally:
                self._warming.clear()

        thread = threading.Thread(target=run, name="warm-up", daemon=True)
        thread.start()
        return thread

    # --- questions ------------------------------------------------------------------------------

    def check_question(self, question: object) -> str:
        """The question, stripped; InputError when it is not a usable question."""
        return check_question(question, self.settings.max_question_chars)

    def ask(
        self,
        question: str,
        *,
        k: int | None = None,
        mode: str | None = None,
        history: Sequence[Turn] = (),
        id: str | None = None,
    ) -> Answer:
        """Answer one question (the non-streaming form of `stream`)."""
        final = None
        for item in self.stream(question, k=k, mode=mode, history=history, id=id):
            if isinstance(item, Answer):
                final = item
        assert final is not None
        return final

    def stream(
        self,
        question: str,
        *,
        k: int | None = None,
        mode: str | None = None,
        history: Sequence[Turn] = (),
        stop: threading.Event | None = None,
        id: str | None = None,
    ) -> Iterator[str | Answer]:
        """Yield text as it is produced, then the final Answer."""
        started = time.perf_counter()
        text = self.check_question(question)
        k = self._check_k(k)
        mode = self._check_mode(mode)
        history = tuple(history)[-self.settings.history_turns :] if history else ()
        if history and history[-1].cited and asks_page_of_that(text):
            answer = self._page_of_that(text, history, k, started, id)
            yield answer.answer
            yield answer
            return
        if mode == "generative":
            yield from self._generative(text, k, history, stop, started, id)
            return
        standalone = _follow_up(text, history)
        answer = self._extractive(
            text, self.retriever.search(standalone, k), started, id, standalone
        )
        yield answer.answer
        yield answer

    def ask_many(
        self, questions: Sequence[str], *, k: int | None = None, ids: Sequence[str] | None = None
    ) -> list[Answer]:
        """Answer many questions extractively, embedding and searching them in one batch."""
        started = time.perf_counter()
        texts = [self.check_question(q) for q in questions]
        k = self._check_k(k)
        hits = self.retriever.search_many(texts, k)
        answers = [self._extractive(t, h, None, None) for t, h in zip(texts, hits)]
        each = (time.perf_counter() - started) * 1000 / max(1, len(answers))
        ids = list(ids) if ids is not None else [None] * len(answers)
        return [_replace(a, latency_ms=each, id=i) for a, i in zip(answers, ids)]

    # --- modes ----------------------------------------------------------------------------------

    def _part(self, question: str) -> structure.Intent | None:
        """The part of the essay the question asks for ("What is the thesis?"), if any."""
        asked = structure.intent(question, self._names)
        return asked if asked and (asked.kind != "page" or self._cites_pages) else None

    def _select(self, hits: Hits) -> Selection:
        limits = {
            "max_sentences": self.settings.max_answer_sentences,
            "max_chars": self.settings.max_answer_chars,
        }
        asked = self._part(hits.question)
        if asked:
            return structure.select_part(asked, hits, self.index, **limits)
        return select(
            hits,
            self.index.chunk_sentences,
            self._chunk_index,
            self.index.sentences,
            self._texts,
            **limits,
        )

    def _extractive(
        self,
        question: str,
        hits: Hits,
        started: float | None,
        id: str | None,
        standalone: str | None = None,
        notice: str | None = None,
        mode: str = "extractive",
        selection: Selection | None = None,  # when the caller has already made it from `hits`
    ) -> Answer:
        if selection is None:
            selection = self._select(hits)
        if selection.refused:
            text, citations = selection.reason or self._refusal(hits.question, selection), ()
        else:
            text, citations = render(selection, self._texts)
        return Answer(
            question=question,
            answer=text,
            refused=selection.refused,
            mode=mode,
            citations=citations,
            retrieved=hits.passages,
            latency_ms=(time.perf_counter() - started) * 1000 if started else 0.0,
            id=id,
            notice=notice,
            standalone_question=standalone,
        )

    def _page_of_that(self, question: str, history: Sequence[Turn], k: int, started: float,
                      id: str | None) -> Answer:
        """"What page is that on?": the pages the last answer's passages cite, quoted. From the
        passages it cited, not a new search: the question names nothing to search for."""
        chunks = [self.index.chunks[self._chunk_index[c]] for c in history[-1].cited
                  if c in self._chunk_index]
        selection = structure.pages_of(chunks, self.index)
        standalone = _follow_up(question, history)
        answer = self._extractive(question, self.retriever.search(standalone, k), started, id,
                                  standalone, selection=selection)
        if answer.refused:
            return answer
        pages = structure.pages_cited(selection)
        return _replace(answer, answer=f"Page{'s' if len(pages) > 1 else ''} "
                                       f"{listing(pages, 'and')}: {answer.answer}")

    def _refusal(self, question: str, selection: Selection) -> str:
        if selection.nearest is None:
            return refusal(question, self._words)
        chunk, start, end = selection.nearest
        where = f"paragraph {chunk.paragraph}"
        if len(self._texts) > 1:  # an index of several documents: say which one
            where += f" of {chunk.source}"
        return refusal(question, self._words, self._texts[chunk.source][start:end], where)

    def _generative(self, question, k, history, stop, started, id) -> Iterator[str | Answer]:
        generator = self._load_generator()
        if generator is None:
            notice = (
                f"Explain mode is unavailable ({self._generator_error}); quoting the essay instead."
            )
            answer = self._extractive(
                question,
                self.retriever.search(_follow_up(question, history), k),
                started,
                id,
                notice=notice,
            )
            yield answer.answer
            yield answer
            return
        standalone = question
        if history:
            try:
                # a rewrite that drops the question's words or recites the prompt is not used
                standalone = generator.rewrite(question, history) or _follow_up(question, history)
            except ModelError as exc:
                log.warning("follow-up rewrite failed: %s", exc)
                standalone = _follow_up(question, history)
        hits = self.retriever.search(standalone, k)
        selection = self._select(hits)
        if selection.refused:  # nothing relevant: refuse without calling the model
            answer = self._extractive(question, hits, started, id, standalone, mode="generative",
                                      selection=selection)
            yield answer.answer
            yield answer
            return
        if self._part(standalone):
            # The thesis, a summary, a paragraph or a page: the essay's own sentences, chosen by
            # their place in it. Retelling them, the model turned the thesis around ("the clones
            # are not human") in words that verification, which checks words, let through.
            answer = self._extractive(question, hits, started, id, standalone, notice=PART_NOTICE,
                                      selection=selection)
            yield answer.answer
            yield answer
            return
        generated = None
        try:
            for item in generator.stream(standalone, hits.passages, stop, key=selection.sentences):
                if isinstance(item, str):
                    yield item
                else:
                    generated = item
        except ModelError as exc:
            log.warning("generation failed: %s", exc)
            notice = "The language model failed, so here are the essay's own words instead."
            yield self._extractive(question, hits, started, id, standalone, notice=notice,
                                   selection=selection)
            return
        nothing_verified = generated is None or not any(c.verified for c in generated.checks)
        if nothing_verified and stop is not None and stop.is_set():
            # The student stopped it: show no substitute they did not ask for.
            yield Answer(question=question, answer="", refused=False, mode="generative",
                         citations=(), retrieved=hits.passages,
                         latency_ms=(time.perf_counter() - started) * 1000, id=id,
                         notice=STOPPED, standalone_question=standalone)
            return
        if nothing_verified:
            notice = "No generated sentence could be checked against the essay, so here are its own words."
            if generated and any(VERDICT in c.problems for c in generated.checks):
                notice = ("Explain does not answer yes or no: the essay's words cannot confirm a "
                          "verdict. Here is what the essay says.")
            answer = self._extractive(question, hits, started, id, standalone, notice=notice,
                                      selection=selection)
            # Never shown to the student; in the record, a researcher sees why it fell back.
            yield _replace(answer, draft=generated.checks if generated else None)
            return
        yield Answer(
            question=question,
            answer=generated.text,
            refused=False,
            mode="generative",
            citations=generated.citations,
            retrieved=hits.passages,
            latency_ms=(time.perf_counter() - started) * 1000,
            id=id,
            notice=generated.notice,
            standalone_question=standalone,
            verification=generated.checks,
        )

    def _load_generator(self):
        if self._generator is not None or self._generator_error is not None:
            return self._generator
        if self.settings.llm_backend == "none":
            self._generator_error = "no language model is configured"
            return None
        with self._generator_lock:
            if self._generator is None and self._generator_error is None:
                try:
                    from assistant.generate import build_generator

                    self._generator = build_generator(self.settings, self.index.chunks)
                    if self._generator is None:
                        self._generator_error = "no language model is configured"
                except (ModelError, ImportError) as exc:
                    self._generator_error = str(exc)
        return self._generator

    def _check_k(self, k: int | None) -> int:
        k = self.settings.k if k is None else k
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
            raise InputError(f"k must be a whole number from 1 to {MAX_K}, not {k!r}")
        return k

    def _check_mode(self, mode: str | None) -> str:
        mode = mode or self.settings.mode
        if mode not in ("extractive", "generative"):
            raise InputError(f"mode must be 'extractive' or 'generative', not {mode!r}")
        return mode


def check_question(question: object, limit: int) -> str:
    """The question, stripped; InputError when it is empty, too long or not text."""
    if not isinstance(question, str):
        raise InputError("the question must be text")
    text = question.strip()
    if not text:
        raise InputError("the question is empty; type a question about the essay")
    if len(text) > limit:
        raise InputError(f"the question is {len(text):,} characters long; keep it to {limit:,} or fewer")
    return text


def ensure_default_index(settings: Settings, embedder, *, progress: bool = False) -> None:
    """Build the default index from the shipped essay when it is missing (and only then)."""
    default = Settings().index_dir
    if Path(settings.index_dir).resolve() != default.resolve():
        return
    if (default / "manifest.json").exists():
        return
    log.info("building the default index from %s", settings.default_document)
    build_documents([settings.default_document], default, settings, embedder, progress=progress)


def build_documents(
    paths, directory: Path, settings: Settings, embedder, *, progress=False
) -> dict:
    """Read files and build (or refresh) the index at `directory`; a file named twice counts once,
    two files of the same name are an InputError."""
    unique = list({Path(p).resolve(): Path(p) for p in paths}.values())
    documents = [read_document(p) for p in unique]
    names = [d.source for d in documents]
    if len(set(names)) != len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise InputError(f"two files are both named {', '.join(twice)}, and an index tells its "
                         "documents apart by name; rename one")
    return build_index(
        documents,
        directory,
        embedder,
        chunk_chars=settings.chunk_chars,
        chunk_overlap=settings.chunk_overlap,
        progress=progress,
    )


def _follow_up(question: str, history: Sequence[Turn]) -> str:
    # Without a language model a follow-up ("what page is that on?") is searched with the earlier
    # questions it leans on; one about a part of the essay ("and paragraph 2?") stands alone.
    return question if structure.intent(question) else with_history(question, history)


def _replace(record: Answer, **changes) -> Answer:
    from dataclasses import replace

    return replace(record, **changes)
