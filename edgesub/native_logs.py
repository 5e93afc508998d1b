"""Keep the C++ runtimes' routine log lines out of the console, and nothing else.

TensorFlow Lite, absl and oneDNN write INFO notices straight to file descriptor 2, where Python's
logging and warnings filters cannot reach them ("INFO: Created TensorFlow Lite XNNPACK delegate
for CPU."). :func:`native_noise_filtered` points descriptor 2 at a temporary file while a native
call runs, then writes back every line that is not a known notice — a real error from the library
still reaches the user, after the call instead of during it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from typing import IO

# Routine notices, each matched against one line of native stderr.
NATIVE_NOISE = tuple(
    re.compile(pattern)
    for pattern in (
        r"^INFO: Created TensorFlow Lite XNNPACK delegate for CPU\.$",
        r"^INFO: Initialized TensorFlow Lite runtime\.$",
        # absl/glog INFO records ("I0000 00:00:1796.8 15192 flatbuffer_export.cc:4410] ..."):
        # warnings (W) and errors (E, F) are kept
        r"^I\d{4} \d\d:\d\d:[\d.]+\s+\d+ [\w./-]+:\d+\] ",
        r"All log messages before absl::InitializeLog\(\) is called are written to STDERR",
        r"oneDNN custom operations are on",
        r"This TensorFlow binary is optimized to use available CPU instructions",
        r"To enable the following instructions: .* in other operations, rebuild TensorFlow",
        r"Unable to register cu(DNN|FFT|BLAS) factory",
        r"computation placer already registered",
        r"failed call to cuInit",
    )
)


def is_noise(line: str) -> bool:
    """Whether ``line`` (without its newline) is a routine notice of a native library."""
    return any(pattern.search(line) for pattern in NATIVE_NOISE)


@contextlib.contextmanager
def native_noise_filtered() -> Iterator[None]:
    """Run a block with descriptor 2 captured; afterwards replay its lines minus the notices.

    Python's own ``sys.stderr`` (progress bars, warnings) keeps writing to the terminal during
    the block: only what native code writes to descriptor 2 is held back. Without a usable
    descriptor 2 (closed, or a platform without ``dup``) the block runs as it is.
    """
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):
        yield
        return
    original = sys.stderr
    passthrough = os.fdopen(
        os.dup(saved), "w", buffering=1, encoding="utf-8", errors="backslashreplace"
    )
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        sys.stderr = passthrough
        try:
            yield
        finally:
            sys.stderr = original
            _repoint_handlers(passthrough, original)
            passthrough.close()
            os.dup2(saved, 2)
            os.close(saved)
            _replay(capture)


def _repoint_handlers(old: IO[str], new: IO[str]) -> None:
    """Logging handlers made during the block (a library's first import sets one up on the
    ``sys.stderr`` of the moment) write to ``new`` once ``old`` is closed, not into a closed
    file ("--- Logging error ---" and a stack on every later record)."""
    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    for logger in loggers:
        for handler in getattr(logger, "handlers", ()):  # a PlaceHolder has none
            if isinstance(handler, logging.StreamHandler) and handler.stream is old:
                handler.setStream(new)


def _replay(capture: IO[bytes]) -> None:
    """Write the captured lines that are not routine notices to ``sys.stderr``."""
    capture.seek(0)
    kept = [
        line
        for line in capture.read().decode("utf-8", errors="replace").splitlines()
        if line.strip() and not is_noise(line)
    ]
    if kept:
        sys.stderr.write("\n".join(kept) + "\n")
        sys.stderr.flush()
