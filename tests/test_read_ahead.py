"""etl/ingest/read_ahead.py: items in order, errors where they happen, the source closed however it ends."""

from __future__ import annotations

import threading

import pytest

from etl.ingest.read_ahead import read_ahead


class Source:
    """An iterator that records which thread produced each item and whether it was closed."""

    def __init__(self, n: int, fail_at: int | None = None) -> None:
        self.n, self.fail_at, self.closed, self.threads = n, fail_at, False, set()

    def __iter__(self):
        try:
            for i in range(self.n):
                if i == self.fail_at:
                    raise OSError(f"cannot read item {i}")
                self.threads.add(threading.current_thread().name)
                yield i
        finally:
            self.closed = True


def test_every_item_in_order_from_another_thread():
    source = Source(100)
    assert list(read_ahead(source, 7)) == list(range(100))
    assert source.closed and source.threads == {"facelake-read-ahead"}


def test_an_error_of_the_source_is_raised_where_its_item_would_have_come():
    source, seen = Source(50, fail_at=20), []
    with pytest.raises(OSError, match="cannot read item 20"):
        for item in read_ahead(source, 4):
            seen.append(item)
    assert seen == list(range(20)) and source.closed


def test_stopping_early_stops_the_thread_and_closes_the_source():
    source = Source(10_000)
    items = read_ahead(source, 3)
    assert [next(items) for _ in range(5)] == [0, 1, 2, 3, 4]
    items.close()
    assert source.closed
    assert not [t for t in threading.enumerate() if t.name == "facelake-read-ahead"]
