"""Read a blocking token stream in a worker thread, so Stop and time limits hold without a reader.

A web framework may abandon a streaming response without closing it: Gradio leaves a cancelled
generator suspended until the server exits. Were the model's token stream read in the request's
own generator, an abandoned reader would keep the model (and its lock) busy for good, and every
later answer would wait behind it. Here a worker thread reads the stream into a queue and checks
the Stop signal and the deadline after each item, so a Stop or a time limit ends the generation
(and frees the model) whether or not anyone reads on. The reader gets the items in order, the
stream's own exception, or `TimeoutError` when nothing arrives before the deadline.
"""

from __future__ import annotations

import contextvars
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class _Failed:
    error: BaseException


_DONE = object()
POLL_S = 0.1  # how often a reader waiting for the next item looks at the Stop signal


def pump(
    start: Callable[[], Iterator[T]],
    stop: threading.Event | None,
    timeout_s: float,
    *,
    name: str = "generation",
    run: Callable[[Callable[[], None]], object] | None = None,
) -> Iterator[T]:
    """Yield what `start()` yields, read by a worker that stops on `stop`, at the deadline, or when
    this generator is closed; `TimeoutError` when the deadline passes first. `run(work)` starts
    the worker's `work` on a thread of its own choosing (default: a new daemon thread)."""
    deadline = time.monotonic() + timeout_s
    halt = threading.Event()  # set when the reader goes away or gives up
    items: queue.Queue = queue.Queue()

    def halted() -> bool:
        return halt.is_set() or (stop is not None and stop.is_set()) or time.monotonic() > deadline

    def work() -> None:
        if halted():
            items.put(_DONE)  # the reader left while this work waited its turn: do not start
            return
        try:
            iterator = start()
            try:
                for item in iterator:
                    if halted():
                        break
                    items.put(item)
            finally:
                close = getattr(iterator, "close", None)
                if close is not None:
                    close()  # a generator's finally (e.g. releasing the model's lock) runs here
        except BaseException as exc:  # handed to the reader, which raises it in its own thread
            items.put(_Failed(exc))
        finally:
            items.put(_DONE)

    context = contextvars.copy_context()  # LangChain keeps its run configuration in contextvars
    if run is None:
        threading.Thread(target=context.run, args=(work,), name=name, daemon=True).start()
    else:
        run(lambda: context.run(work))
    try:
        while True:
            if stop is not None and stop.is_set():
                return  # even while the worker still waits for the model (busy with another answer)
            try:
                item = items.get(timeout=min(POLL_S, max(0.0, deadline - time.monotonic())))
            except queue.Empty:
                if time.monotonic() >= deadline:
                    raise TimeoutError(f"nothing arrived within {timeout_s:g} s") from None
                continue
            if item is _DONE:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item
    finally:
        halt.set()
