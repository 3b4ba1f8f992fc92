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
from dataclasses import dataclass, replace
from pathlib import Path

from assistant.answering import parts
from assistant.answering.extractive import (
    Refusal,
    Selection,
    candidate_sentences,
    document_words,
    refusal,
    render,
    select,
    select_read,
)
from assistant.answering.followup import asks_page_of_that, with_history
from assistant.config import Settings
from assistant.errors import InputError, ModelError
from assistant.generation.verify import VERDICT
from assistant.index import LoadedIndex, build_index, load_index
from assistant.ingest import read_document
from assistant.reader import Candidate, Reader, Reading, shared_reader
from assistant.retrieval import Hits, HybridRetriever
from assistant.schema import Answer, Chunk, Document, Turn
from assistant.text import listing

log = logging.getLogger(__name__)

MAX_K = 50
PART_NOTICE = "For the essay's thesis, parts and pages, Explain quotes the essay's own words."
STOPPED = "Stopped."  # the notice of a generation stopped before any sentence could be verified
MODEL_FAILED = "The language model failed, so here are the essay's own words instead."
NOTHING_VERIFIED = "No generated sentence could be checked against the essay, so here are its own words."
NO_VERDICT = ("Explain does not answer yes or no: the essay's words cannot confirm a verdict. "
              "Here is what the essay says.")


@dataclass(frozen=True)
class Request:
    """One question as the routes see it: checked, with its conversation and how to answer it."""

    question: str
    k: int
    mode: str
    history: tuple[Turn, ...]
    started: float | None  # perf_counter() when it arrived; None: latency is set by the caller
    id: str | None = None
    stop: threading.Event | None = None

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000 if self.started is not None else 0.0


class Assistant:
    """Answers questions about the documents of one index."""

    def __init__(self, settings: Settings, index: LoadedIndex, embedder, generator=None,
                 reader: Reader | None = None) -> None:
        self.settings = settings
        self.index = index
        self.embedder = embedder
        self.reader = reader  # None: sentences are scored by the hand-set rules
        self.retriever = HybridRetriever(index, embedder, ignore=parts.DOCUMENT_WORDS)
        self._texts = {name: doc.text for name, doc in index.documents.items()}
        self._words = document_words(list(self._texts.values()))
        # "What is on page 3?" of a document with no page citations is an ordinary question.
        self._cites_pages = any(chunk.citations for chunk in index.chunks)
        self._names = parts.document_names(index)  # "the lecture" of lecture.md and poem.txt
        self._chunk_index = {c.chunk_id: i for i, c in enumerate(index.chunks)}
        self._generator = generator
        self._generator_error: str | None = None
        self._generator_lock = threading.Lock()
        self._warming = threading.Event()  # warm_up_in_background is loading the model
        self._study = None  # the study aids last built or read (study.StudyAids)
        self._spans = None  # the answer-span model, loaded when questions are first checked

    @classmethod
    def from_settings(cls, settings: Settings, *, embedder=None) -> Assistant:
        """Load (or, for the default index, first build) the index and wire the assistant."""
        embedder = embedder or shared_embedder(settings)
        reader = shared_reader() if settings.scoring == "learned" else None
        ensure_default_index(settings, embedder)
        return cls(settings, load_index(settings.index_dir, embedder), embedder, reader=reader)

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

    def warm_up_search(self) -> None:
        """Load the embedding model, the index's search structures and the reader."""
        hits = self.retriever.search("warm up", 1)
        if self.reader is not None:
            self.reader.read(hits, self.candidates(hits))

    def warm_up(self) -> None:
        """Load the models and fill caches so the first student does not wait."""
        self.warm_up_search()
        generator = self._load_generator()
        if generator is not None:
            generator.warm_up()

    def prepare_explain(self, *, progress: bool = False) -> str | None:
        """Evaluate the document's Explain prompt and save it beside the index (or check that the
        saved one is current), with a progress bar when asked. How it went ("built", "disk", ...),
        or None when the configured backend keeps no such state; ModelError when it fails."""
        generator = self._load_generator()
        if generator is None:
            if self._generator_error and self.settings.llm_backend != "none":
                raise ModelError(self._generator_error)
            return None
        if not progress:
            return generator.prepare()
        from tqdm import tqdm

        with tqdm(desc="Explain prompt", unit="tok", leave=False) as bar:
            def advance(done: int, total: int) -> None:
                bar.total = total
                bar.update(done - bar.n)

            return generator.prepare(advance)

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

    # --- study aids: essay map, practice questions, flashcards, suggested questions ----------------

    def study_steps(self, *, use_model: bool = True) -> Iterator:
        """The study aids of the index's documents (study.StudyAids), kept beside the index in
        study.json: read when current, else built, yielding study.Progress while the model's
        questions are checked, then the StudyAids. use_model=False makes fill-in-the-blank
        questions (milliseconds) unless questions the model wrote are stored."""
        from assistant.study import build, store

        writer, without = self._study_writer() if use_model else (None, None)
        strict = writer is not None and self.settings.practice_check == "strict"
        spans = self._answer_spans() if strict else None
        built_from = self._study_key(writer, spans)
        cached = self._study
        if cached is not None and store.fresh(cached, built_from, any_model=not use_model):
            yield cached
            return
        stored = store.load(self.index.directory, built_from, any_model=not use_model)
        if stored is not None:
            self._study = stored
            yield stored
            return
        if without is None and writer is None:
            without = ("the language model writes questions when asked (`assistant study`, or "
                       "the Study tab's button)" if self.settings.llm_backend != "none"
                       else "no language model is configured")
        for item in build.build(self.index, ask=self._quote_only, writer=writer,
                                built_from=built_from, without_model=without, spans=spans,
                                timeout_s=self.settings.llm_timeout_s):
            if not isinstance(item, build.Progress):
                store.save(self.index.directory, item)
                self._study = item
            yield item

    def study_aids(self, *, use_model: bool = False, progress=None):  # noqa: ANN001, ANN201
        """The study aids (study.StudyAids), as `study_steps` makes them; `progress` is called
        with each study.Progress."""
        from assistant.study.aids import StudyAids

        final = None
        for item in self.study_steps(use_model=use_model):
            if isinstance(item, StudyAids):
                final = item
            elif progress is not None:
                progress(item)
        return final

    def study_map(self, source: str | None = None):  # noqa: ANN201 - study.EssayMap
        """A document's essay map alone, built now (milliseconds, no model)."""
        from assistant.study.build import essay_map

        return essay_map(self.index, self.study_source(source))

    def check_practice(self, question_id: str, given: str):  # noqa: ANN201 - study.Verdict
        """A student's answer to a practice question, judged right or wrong with the passage
        that proves it; InputError for an unknown question."""
        from assistant.study.practice import grade

        aids = self.study_aids()
        question = next((q for d in aids.documents for q in d.questions if q.id == question_id),
                        None)
        if question is None:
            raise InputError(f"no practice question {question_id!r}; the study aids may have "
                             "been rebuilt, so load them again")
        return grade(question, given if isinstance(given, str) else "")

    def suggested_questions(self, limit: int = 5) -> list[str]:
        """Questions made from the documents (their thesis, evidence, pages, checked practice
        questions) that the assistant answers with a citation."""
        aids = self.study_aids()
        found = [q for d in aids.documents for q in d.suggestions]
        return list(dict.fromkeys(found))[:limit]

    def study_export(self, source: str | None = None, fmt: str = "json") -> str:
        """A document's study aids as text: "json" (the map, questions and suggestions), "csv"
        (flashcards: front, back, where) or "md" (a study guide)."""
        from assistant.study import cards

        aids = self.study_aids()
        doc = aids.of(self.study_source(source))
        if fmt == "csv":
            return cards.cards_csv([doc])
        if fmt == "md":
            return cards.markdown([doc])
        if fmt == "json":
            import json

            return json.dumps({"built_from": aids.built_from, **doc.to_dict()},
                              ensure_ascii=False, indent=2) + "\n"
        raise InputError(f"format must be json, csv or md, not {fmt!r}")

    def study_package(self, source: str | None = None) -> bytes:
        """A document's flashcards as an Anki package (.apkg): one deck named after it."""
        from assistant.study import cards

        name = self.study_source(source)
        return cards.cards_apkg([self.study_aids().of(name)], name.rsplit(".", 1)[0] or name)

    def study_source(self, source: str | None) -> str:
        """The document a study request means: the one named, or the index's only one;
        InputError when it names none of them, or none when there are several."""
        names = list(self.index.documents)
        if source is None and len(names) == 1:
            return names[0]
        if source not in self.index.documents:
            raise InputError(f"name one of the index's documents ({', '.join(names)}), not "
                             f"{source!r}" if source else "the index holds several documents; "
                             f"name one of {', '.join(names)}")
        return source

    def _quote_only(self, question: str) -> Answer:
        return self.ask(question, mode="extractive")

    def _study_writer(self):  # noqa: ANN202 - (study.writer.Writer | None, why there is none)
        generator = self._load_generator()
        if generator is None:
            return None, self._generator_error or "no language model is available"
        from assistant.study.writer import Writer

        model = generator.model
        name = (getattr(model, "model_sha256", "") or getattr(model, "model_name", "")
                or type(model).__name__)
        return Writer.load(model, self.settings.prompts_dir, f"{self.settings.llm_backend}:{name}"), None

    def _answer_spans(self):  # noqa: ANN202 - runtime.span_model.SpanModel
        """The trained answer-span model the practice-question check ends with (loaded once)."""
        if self._spans is None:
            from assistant.runtime.span_model import SpanModel

            self._spans = SpanModel.load()
        return self._spans

    def _study_key(self, writer, spans=None) -> dict:  # noqa: ANN001
        """What study aids are built from: made from anything else, they are made again."""
        from assistant.study.practice import MAX_QUESTIONS

        files = self.index.manifest.get("files", {})
        return {
            "sources": [[s.get("source"), s.get("sha256")] for s in self.index.manifest.get("sources", [])],
            "passages": files.get("chunks", {}).get("sha256"),
            "scoring": self.settings.scoring,
            "questions": MAX_QUESTIONS,
            "model": writer.name if writer else None,
            "prompts": writer.digests() if writer else {},
            "answer_span": spans.digest if spans else None,
        }

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
        request = self._request(question, k, mode, history, stop, id)
        if request.history and request.history[-1].cited and asks_page_of_that(request.question):
            yield from _final(self._page_of_that(request))
        elif request.mode == "generative":
            yield from self._explain(request)
        else:
            yield from _final(self._quote(request))

    def ask_many(
        self, questions: Sequence[str], *, k: int | None = None, ids: Sequence[str] | None = None
    ) -> list[Answer]:
        """Answer many questions extractively, embedding and searching them in one batch."""
        started = time.perf_counter()
        requests = [self._request(q, k, "extractive", (), None, None, timed=False)
                    for q in questions]
        batch = self.retriever.search_many([r.question for r in requests], self._check_k(k))
        asked = [self._part(r.question) for r in requests]
        readings = self._read_many([h for h, a in zip(batch, asked) if not a])
        answers = [self._quoted(r, hits, self._select(hits, a, None if a else next(readings)))
                   for r, hits, a in zip(requests, batch, asked)]
        each = (time.perf_counter() - started) * 1000 / max(1, len(answers))
        ids = list(ids) if ids is not None else [None] * len(answers)
        return [replace(a, latency_ms=each, id=i) for a, i in zip(answers, ids)]

    # --- routes: one per kind of answer ---------------------------------------------------------

    def _quote(self, request: Request, notice: str | None = None) -> Answer:
        """The document's own sentences that answer the question, or a refusal."""
        standalone = _follow_up(request.question, request.history)
        hits = self.retriever.search(standalone, request.k)
        return self._quoted(request, hits, self._select(hits, self._part(standalone)), standalone,
                            notice=notice)

    def _page_of_that(self, request: Request) -> Answer:
        """"What page is that on?": the pages the last answer's passages cite, quoted. From the
        passages it cited, not a new search: the question names nothing to search for."""
        chunks = [self.index.chunks[self._chunk_index[c]] for c in request.history[-1].cited
                  if c in self._chunk_index]
        selection = parts.pages_of(chunks, self.index)
        standalone = _follow_up(request.question, request.history)
        hits = self.retriever.search(standalone, request.k)
        answer = self._quoted(request, hits, selection, standalone)
        if answer.refused:
            return answer
        pages = parts.pages_cited(selection)
        return replace(answer, answer=f"Page{'s' if len(pages) > 1 else ''} "
                                      f"{listing(pages, 'and')}: {answer.answer}")

    def _explain(self, request: Request) -> Iterator[str | Answer]:
        """Explain mode: the model's answer from the passages, or the essay's own words when the
        question is about one of its parts, when it is unsupported or when the model fails."""
        generator = self._load_generator()
        if generator is None:
            notice = f"Explain mode is unavailable ({self._generator_error}); quoting the essay instead."
            yield from _final(self._quote(request, notice=notice))
            return
        standalone = self._standalone(generator, request)
        hits = self.retriever.search(standalone, request.k)
        asked = self._part(standalone)
        selection = self._select(hits, asked)
        if selection.refused:  # nothing relevant: refuse without calling the model
            yield from _final(self._quoted(request, hits, selection, standalone, mode="generative"))
        elif asked:
            # The thesis, a summary, a paragraph or a page: the essay's own sentences, chosen by
            # their place in it. Retold by the model, the thesis came out reversed in words that
            # verification, which checks words, lets through.
            yield from _final(self._quoted(request, hits, selection, standalone, notice=PART_NOTICE))
        else:
            yield from self._generated(generator, request, hits, selection, standalone)

    def _generated(self, generator, request: Request, hits: Hits, selection: Selection,
                   standalone: str) -> Iterator[str | Answer]:
        """The model's words as they come, then its verified answer; quotations when none of its
        sentences could be verified."""
        generated = None
        try:
            for item in generator.stream(standalone, hits.passages, request.stop,
                                         key=selection.sentences):
                if isinstance(item, str):
                    yield item
                else:
                    generated = item
        except ModelError as exc:
            log.warning("generation failed: %s", exc)
            yield self._quoted(request, hits, selection, standalone, notice=MODEL_FAILED)
            return
        if generated is not None and any(c.verified for c in generated.checks):
            yield self._answer(request, hits, standalone, answer=generated.text, refused=False,
                               mode="generative", citations=generated.citations,
                               notice=generated.notice, verification=generated.checks)
        elif request.stop is not None and request.stop.is_set():
            # The student stopped it: show no substitute they did not ask for.
            yield self._answer(request, hits, standalone, answer="", refused=False,
                               mode="generative", notice=STOPPED)
        else:
            verdict = generated is not None and any(VERDICT in c.problems for c in generated.checks)
            answer = self._quoted(request, hits, selection, standalone,
                                  notice=NO_VERDICT if verdict else NOTHING_VERIFIED)
            # Never shown to the student; in the record, a researcher sees why it fell back.
            yield replace(answer, draft=generated.checks if generated else None)

    # --- the steps routes share -----------------------------------------------------------------

    def _request(self, question: object, k: int | None, mode: str | None,
                 history: Sequence[Turn], stop: threading.Event | None, id: str | None,
                 *, timed: bool = True) -> Request:
        started = time.perf_counter() if timed else None
        return Request(
            question=self.check_question(question),
            k=self._check_k(k),
            mode=self._check_mode(mode),
            history=tuple(history)[-self.settings.history_turns :] if history else (),
            started=started,
            id=id,
            stop=stop,
        )

    def _standalone(self, generator, request: Request) -> str:
        """The question as a search needs it: a follow-up rewritten by the model when it can."""
        if not request.history:
            return request.question
        try:
            # a rewrite that drops the question's words or recites the prompt is not used
            rewritten = generator.rewrite(request.question, request.history)
        except ModelError as exc:
            log.warning("follow-up rewrite failed: %s", exc)
            rewritten = None
        return rewritten or _follow_up(request.question, request.history)

    def _part(self, question: str) -> parts.Intent | None:
        """The part of the essay the question asks for ("What is the thesis?"), if any."""
        asked = parts.intent(question, self._names)
        return asked if asked and (asked.kind != "page" or self._cites_pages) else None

    def _read_many(self, batch: Sequence[Hits]) -> Iterator[Reading | None]:
        """The reader's readings of many searches, scored together (None each without a reader)."""
        if self.reader is None:
            return iter([None] * len(batch))
        return iter(self.reader.read_many([(hits, self.candidates(hits)) for hits in batch]))

    def _select(self, hits: Hits, asked: parts.Intent | None,
                reading: Reading | None = None) -> Selection:
        limits = {
            "max_sentences": self.settings.max_answer_sentences,
            "max_chars": self.settings.max_answer_chars,
        }
        if asked:
            return parts.select_part(asked, hits, self.index, **limits)
        if self.reader is not None:
            reading = reading or self.reader.read(hits, self.candidates(hits))
            return select_read(reading, self.index.sentences, **limits)
        return select(
            hits,
            self.index.chunk_sentences,
            self._chunk_index,
            self.index.sentences,
            self._texts,
            **limits,
        )

    def candidates(self, hits: Hits) -> list[Candidate]:
        """The sentences that may answer a search: those of its top passages."""
        return candidate_sentences(hits, self.index.chunk_sentences, self._chunk_index,
                                   self.index.sentences, self._texts)

    def _quoted(self, request: Request, hits: Hits, selection: Selection,
                standalone: str | None = None, *, notice: str | None = None,
                mode: str = "extractive") -> Answer:
        """The answer a selection makes: its sentences with [n] markers, or a refusal."""
        if selection.refused:
            said = Refusal(selection.reason) if selection.reason else self._refusal(hits.question,
                                                                                    selection)
            return self._answer(request, hits, standalone, answer=said.text, refused=True,
                                mode=mode, notice=notice, nearest=said.nearest)
        text, citations = render(selection, self._texts)
        return self._answer(request, hits, standalone, answer=text, refused=False, mode=mode,
                            citations=citations, notice=notice)

    def _answer(self, request: Request, hits: Hits, standalone: str | None, **fields) -> Answer:
        return Answer(question=request.question, retrieved=hits.passages, id=request.id,
                      latency_ms=request.elapsed_ms(), standalone_question=standalone, **fields)

    def _refusal(self, question: str, selection: Selection) -> Refusal:
        if selection.nearest is None:
            return refusal(question, self._words)
        chunk, start, end = selection.nearest
        where = f"paragraph {chunk.paragraph}"
        if len(self._texts) > 1:  # an index of several documents: say which one
            where += f" of {chunk.source}"
        return refusal(question, self._words, self._texts[chunk.source][start:end], where)

    def _load_generator(self):
        if self._generator is not None or self._generator_error is not None:
            return self._generator
        if self.settings.llm_backend == "none":
            self._generator_error = "no language model is configured"
            return None
        with self._generator_lock:
            if self._generator is None and self._generator_error is None:
                try:
                    from assistant.generation.generate import build_generator
                    from assistant.runtime.prompt_state import FILE_NAME

                    self._generator = build_generator(self.settings, self.index.chunks,
                                                      self.index.directory / FILE_NAME)
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
    return _build(documents, directory, settings, embedder, progress=progress)


def _build(documents: Sequence[Document], directory: Path, settings: Settings, embedder, *,
           progress: bool = False) -> dict:
    return build_index(documents, directory, embedder, chunk_chars=settings.chunk_chars,
                       chunk_overlap=settings.chunk_overlap, progress=progress)


def _follow_up(question: str, history: Sequence[Turn]) -> str:
    # Without a language model a follow-up ("what page is that on?") is searched with the earlier
    # questions it leans on; one about a part of the essay ("and paragraph 2?") stands alone.
    return question if parts.intent(question) else with_history(question, history)


def _final(answer: Answer) -> Iterator[str | Answer]:
    """A route's answer as a stream: its whole text at once, then the Answer."""
    yield answer.answer
    yield answer


# --- what front ends need besides questions: models, indexes, prompts ---------------------------


def shared_embedder(settings: Settings):  # noqa: ANN201 - an embeddings.Embedder
    """The process-wide embedding model (it loads on first use), shared by the indexes a front
    end builds and the assistants it makes."""
    from assistant.embeddings import load_embedder

    return load_embedder(settings.model_cache)


def build_texts(texts: Sequence[tuple[str, str]], directory: Path, settings: Settings,
                embedder) -> dict:
    """Build (or refresh) the index at `directory` from (name, text) pairs; its manifest."""
    from assistant.ingest import document_from_text

    return _build([document_from_text(name, text) for name, text in texts], directory, settings,
                  embedder)


def build_read_documents(documents: Sequence[Document], directory: Path, settings: Settings,
                         embedder) -> dict:
    """Build the index at `directory` from documents already read (an upload checked first)."""
    return _build(documents, directory, settings, embedder)


def index_sources(index_dir: Path) -> list[str] | None:
    """"name sha256" of each document an index holds; None when it cannot be read (yet)."""
    from assistant.errors import UnusableIndexError
    from assistant.index import read_manifest

    try:
        return [f"{s['source']} {s['sha256']}" for s in read_manifest(index_dir)["sources"]]
    except (UnusableIndexError, KeyError, TypeError):
        return None


def check_prompts(settings: Settings) -> None:
    """ConfigError when a prompt file Explain or the study aids need is missing or broken."""
    if settings.llm_backend != "none":
        from assistant.generation.prompting import load_prompts
        from assistant.study.writer import read_prompts

        load_prompts(settings.prompts_dir)
        read_prompts(settings.prompts_dir)


def install_models(settings: Settings, *, progress: bool, say) -> Path:  # noqa: ANN001
    """Assemble and verify the local language model, and export the question encoder (both
    skipped when already done); the model file's path. `say` tells the user about slow steps."""
    from assistant.runtime.modelfile import install_model

    path = install_model(settings, progress=progress)
    embedder = shared_embedder(settings)
    if not embedder.queries_exported():
        say("exporting the embedding model to ONNX for questions (once, about 10 s)")
    embedder.prepare_queries()
    return path


def model_file(settings: Settings, *, verify: bool) -> Path:
    """Where the local language model lives; with `verify`, ModelError unless it is intact."""
    from assistant.runtime.modelfile import model_path, verified_model_path

    return verified_model_path(settings) if verify else model_path(settings)
