"""pump: a worker reads a blocking stream, so Stop, time limits and an abandoned reader all end it."""

from __future__ import annotations

import threading
import time

import pytest

from assistant.runtime.pump import pump


class Stream:
    """A slow stream that records whether its generator was closed (its `finally` ran)."""

    def __init__(self, items, delay_s=0.0, error=None):
        self.items, self.delay_s, self.error = items, delay_s, error
        self.closed = threading.Event()
        self.produced = 0

    def __call__(self):
        try:
            for item in self.items:
                time.sleep(self.delay_s)
                if self.error is not None and self.produced == 2:
                    raise self.error
                self.produced += 1
                yield item
        finally:
            self.closed.set()


def test_items_arrive_in_order_and_the_stream_is_closed():
    stream = Stream(range(5))
    assert list(pump(stream, None, 5.0)) == [0, 1, 2, 3, 4]
    assert stream.closed.wait(2)


def test_the_streams_error_reaches_the_reader():
    stream = Stream(range(5), error=ValueError("backend broke"))
    reader = pump(stream, None, 5.0)
    assert [next(reader), next(reader)] == [0, 1]
    with pytest.raises(ValueError, match="backend broke"):
        next(reader)


def test_a_stream_that_sends_nothing_in_time_times_out_and_is_stopped():
    stream = Stream(range(1000), delay_s=0.05)
    with pytest.raises(TimeoutError, match="within 0.2 s"):
        list(pump(stream, None, 0.2))
    assert stream.closed.wait(2)
    assert stream.produced < 10


def test_stop_ends_the_stream_even_when_nobody_reads_on():
    stop = threading.Event()
    stream = Stream(range(1000), delay_s=0.01)
    reader = pump(stream, stop, 60.0)
    next(reader)
    stop.set()  # and the reader is abandoned, never resumed nor closed (what Gradio does on cancel)
    assert stream.closed.wait(2)
    assert stream.produced < 1000


def test_closing_the_reader_ends_the_stream():
    stream = Stream(range(1000), delay_s=0.01)
    reader = pump(stream, None, 60.0)
    next(reader)
    reader.close()
    assert stream.closed.wait(2)
    assert stream.produced < 1000


def test_a_stop_ends_the_reader_even_while_the_stream_has_not_started():
    # The model is busy with another answer: the worker waits for it; the reader must not.
    busy = threading.Lock()
    busy.acquire()

    def waiting_for_the_model():
        with busy:
            yield "late"

    stop = threading.Event()
    reader = pump(waiting_for_the_model, stop, 60.0)
    threading.Timer(0.2, stop.set).start()
    started = time.monotonic()
    assert list(reader) == []
    assert time.monotonic() - started < 2
    busy.release()
