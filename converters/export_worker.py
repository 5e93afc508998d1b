"""Exports that run in a child process, so Ctrl-C stops them at once.

TFLite conversion spends seconds in native code that neither answers Ctrl-C nor survives a
KeyboardInterrupt raised in its callbacks. A format marked ``isolated`` is exported by a worker
process started once per convert (it imports the exporter's libraries while the parent does
other work): the parent waits in short polls, and on Ctrl-C kills the worker, whose
half-written temp file the parent then deletes. A model that cannot be pickled, or whose
class the worker cannot import (one defined in a function or in a script's ``__main__``), is
exported in this process, where a Ctrl-C waits for the step to return
(:func:`edgesub.interrupts.deferred`).
"""

from __future__ import annotations

import contextlib
import functools
import os
import pickle
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from edgesub.errors import ConversionError, EdgesubError, first_line
from edgesub.interrupts import deferred
from edgesub.native_logs import native_noise_filtered

_POLL_SECONDS = 0.1
_STOP = b""
# A fresh interpreter, not multiprocessing's spawn (which re-runs a caller's unguarded script).
_ENTRY = "import sys; from edgesub.converters.export_worker import main; main(sys.argv[1:])"


class ExportWorker:
    """One child process that runs exporters on request.

    Start it before the first export, outside any capture of descriptor 2: the worker keeps
    the stderr it was started with (it filters native notices itself)."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[bytes] | None = None
        self._send: Connection | None = None
        self._recv: Connection | None = None

    @property
    def running(self) -> bool:
        """Whether a worker process is up (False after close, kill or crash)."""
        return self._process is not None and self._process.poll() is None

    def start(self, warm_ups: tuple[Callable[[], None], ...] = ()) -> None:
        """Start the worker unless it runs, and have it import what ``warm_ups`` import."""
        if self._process is None:
            child_reads, parent_writes = os.pipe()
            parent_reads, child_writes = os.pipe()
            command = [sys.executable, "-c", _ENTRY, str(child_reads), str(child_writes)]
            self._process = subprocess.Popen(command, pass_fds=(child_reads, child_writes))
            os.close(child_reads)
            os.close(child_writes)
            self._send = Connection(parent_writes, readable=False)
            self._recv = Connection(parent_reads, writable=False)
        for warm_up in warm_ups:
            self._send.send_bytes(pickle.dumps((warm_up, (), False)))

    def run(self, exporter: Callable[..., None], model: Any, job: Any, path: Path) -> None:
        """``exporter(model, job, path)`` in the worker (in this process if it cannot go)."""
        try:
            request = pickle.dumps((exporter, (model, job, path), True))
        except (pickle.PicklingError, AttributeError, TypeError):
            in_process(exporter)(model, job, path)
            return
        self.start()
        try:
            self._send.send_bytes(request)
            while not self._recv.poll(_POLL_SECONDS) and self._process.poll() is None:
                pass
            reply = self._recv.recv_bytes()
        except KeyboardInterrupt:
            self.close(kill=True)
            raise
        except (EOFError, OSError):
            code = self._process.wait()
            self.close(kill=True)
            raise ConversionError(
                f"the exporter of {path.name} crashed (exit code {code})"
            ) from None
        status, error = pickle.loads(reply)  # our own child's reply, not a user file
        if status == "unpicklable":  # e.g. a class of a script's __main__
            in_process(exporter)(model, job, path)
        elif status != "ok":
            raise error

    def close(self, *, kill: bool = False) -> None:
        """Stop the worker: after its last job, or at once."""
        if self._process is None:
            return
        if kill:
            self._process.kill()
        else:
            with contextlib.suppress(OSError):
                self._send.send_bytes(_STOP)
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._send.close()
        self._recv.close()
        self._process = self._send = self._recv = None


def in_process(exporter: Callable[..., None]) -> Callable[..., None]:
    """``exporter`` (its last argument the target path) run here, a first Ctrl-C held until
    it returns: a KeyboardInterrupt raised inside native callbacks could be swallowed or crash
    the exporter."""

    @functools.wraps(exporter)
    def run(*args: Any) -> None:
        with deferred(f"exporting {Path(args[-1]).name}"):
            exporter(*args)

    return run


@contextlib.contextmanager
def export_worker() -> Iterator[ExportWorker]:
    """A worker for one convert; stopped afterwards (killed at once when the convert failed
    or was interrupted: it may still be importing)."""
    worker = ExportWorker()
    try:
        yield worker
    except BaseException:
        worker.close(kill=True)
        raise
    worker.close()


def main(argv: list[str]) -> None:
    """The worker: the parent decides about Ctrl-C, so the worker ignores it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    recv = Connection(int(argv[0]), writable=False)
    send = Connection(int(argv[1]), readable=False)
    with contextlib.suppress(EOFError):  # the parent went away: nothing left to do
        while (request := recv.recv_bytes()) != _STOP:
            try:
                fn, args, wants_reply = pickle.loads(request)  # from our parent, not a user file
            except Exception:  # a class only the parent can import: it exports in-process
                send.send_bytes(pickle.dumps(("unpicklable", None)))
                continue
            reply = _call(fn, args)
            if wants_reply:
                send.send_bytes(pickle.dumps(reply))


def _call(fn: Callable[..., None], args: tuple[Any, ...]) -> tuple[str, Any]:
    try:
        with native_noise_filtered():
            fn(*args)
        return "ok", None
    except Exception as exc:
        return "error", _transportable(exc)


def _transportable(exc: Exception) -> Exception:
    """The exception itself when it survives pickling, else a ConversionError with its line."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        kind = EdgesubError if isinstance(exc, EdgesubError) else ConversionError
        return kind(f"{type(exc).__name__}: {first_line(exc)}")
