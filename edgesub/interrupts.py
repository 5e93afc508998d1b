"""Ctrl-C that native code cannot swallow.

Exporters and runtimes spend seconds in C++ (TFLite conversion, quantisation, session creation).
A KeyboardInterrupt raised while they call back into Python can be swallowed by them, or crash
them half-way through a file. Inside :func:`deferred` the first Ctrl-C is only recorded and is
raised as soon as the native step returns; a second one raises at once.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from types import FrameType


@contextlib.contextmanager
def deferred(what: str) -> Iterator[None]:
    """Hold a first Ctrl-C until the block ends, then raise it; a second raises at once.

    A no-op outside the main thread (only it receives signals).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []

    def handler(signum: int, frame: FrameType | None) -> None:
        if caught:
            raise KeyboardInterrupt
        caught.append(signum)
        print(f"stopping after {what} (Ctrl-C again to stop now)", file=sys.stderr, flush=True)

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt


@contextlib.contextmanager
def blocked() -> Iterator[None]:
    """Keep Ctrl-C out of a few renames that must all happen (it is raised right after)."""
    with deferred("the files are in place"):
        yield
