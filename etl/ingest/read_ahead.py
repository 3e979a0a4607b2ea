"""Decode ahead: a thread reads a video's next frames while the task works on the ones before.

OpenCV's decoder releases the GIL, and so does most of what a frame goes through after it
(OpenCV, onnxruntime, numpy). Where the task has a core to spare, decoding the next chunk then
overlaps with locating, aligning and encoding this one; where it has none, the two take turns
as before. At most `ahead` decoded frames wait (a task's memory grows by that many frames).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

_END = object()


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def read_ahead(items: Iterable[T], ahead: int) -> Iterator[T]:
    """`items` in order, produced by a thread up to `ahead` items before they are asked for.

    An error of `items` is raised here, where the item would have come. Stopping early (an error of the
    caller, `close()`) stops the thread and closes `items`' iterator (a video reader releases its file).
    """
    waiting: queue.Queue = queue.Queue(maxsize=max(1, ahead))
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                waiting.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        iterator = iter(items)
        try:
            for item in iterator:
                if not put(item):
                    return
            put(_END)
        except BaseException as error:  # handed to the consumer, raised there
            put(_Failed(error))
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=produce, name="facelake-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            item = waiting.get()
            if item is _END:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item
    finally:
        stop.set()
        thread.join()
