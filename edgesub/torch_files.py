"""Torch files on disk: written so a full disk is one clear line, read without unpickling code.

``torch.save`` to a file name reports a full disk as ``RuntimeError: [enforce fail at
inline_container.cc...]``; into a Python file object the file's ``OSError(ENOSPC)`` comes out
(or sits behind torch's RuntimeError), which :func:`edgesub.atomic.atomic_path` reports with the
space left. ``torch.load(weights_only=True)``
refuses a pickle that names code, but its message suggests ``weights_only=False``, which would run
that code; edgesub never does, and says how to convert the file instead.
"""

from __future__ import annotations

import os
import pickle
import re
import warnings
from pathlib import Path
from typing import Any

from edgesub._deps import require
from edgesub.atomic import atomic_path
from edgesub.errors import ModelFileError, first_line

CONVERT_HINT = (
    "convert it to safetensors with the code that made it, e.g. "
    'safetensors.torch.save_file(model.state_dict(), "model.safetensors")'
)
_GLOBAL = re.compile(r"GLOBAL ([\w.]+)")
_OPERAND = re.compile(r"Unsupported operand \d+")


def save_torch(obj: Any, path: str | os.PathLike[str]) -> Path:
    """``torch.save`` atomically, through a Python file so a full disk is an OSError."""
    torch = require("torch")
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        try:
            torch.save(obj, fh)
        except RuntimeError as exc:  # its zip writer may wrap the file's OSError in its own
            cause = _os_error_in(exc)
            if cause is None:
                raise
            raise cause from None
        fh.flush()
        os.fsync(fh.fileno())
    return Path(path)


def _os_error_in(exc: BaseException) -> OSError | None:
    """The OSError an exception was raised while handling (or from), if any."""
    seen: BaseException | None = exc
    while seen is not None and not isinstance(seen, OSError):
        seen = seen.__cause__ or seen.__context__
    return seen


def load_weights(path: str | os.PathLike[str], what: str) -> Any:
    """Tensors from a .safetensors file, or a torch file holding only tensors and plain
    containers; ``what`` names the file's role in the one-line error."""
    path = Path(path)
    if path.suffix == ".safetensors":
        return _load_safetensors(path, what)
    torch = require("torch")
    try:
        with warnings.catch_warnings():  # e.g. torch's multi-line note on pickle protocols
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except OSError as exc:
        raise ModelFileError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    except pickle.UnpicklingError as exc:
        if "Weights only load failed" in str(exc):
            raise ModelFileError(_refusal(path, what, str(exc))) from None
        raise ModelFileError(f"cannot read {what} {path}: {first_line(exc)}") from None
    except Exception as exc:  # torch raises KeyError, RuntimeError, EOFError... for junk
        reason = ": ".join(dict.fromkeys([type(exc).__name__, first_line(exc)]))
        raise ModelFileError(f"cannot read {what} {path}: not a torch file ({reason})") from None


def _refusal(path: Path, what: str, message: str) -> str:
    """One line for what ``weights_only`` refused: a pickle naming code (which it names), or
    an operand it does not allow (an unusual pickle, or not a pickle at all)."""
    named = _GLOBAL.search(message)
    if named:
        return (
            f"{what} {path} is a pickle that would call {named.group(1)}, not plain weights; "
            f"edgesub will not unpickle it: {CONVERT_HINT}"
        )
    operand = _OPERAND.search(message)
    detail = f" ({operand.group(0)})" if operand else ""
    return (
        f"{what} {path} is not a torch weights file edgesub can read without unpickling"
        f"{detail}; if a pickle made it, {CONVERT_HINT}"
    )


def _load_safetensors(path: Path, what: str) -> dict[str, Any]:
    safetensors_torch = require("safetensors.torch")
    try:
        return safetensors_torch.load_file(str(path))
    except Exception as exc:  # safetensors raises its own SafetensorError, not an OSError
        raise ModelFileError(f"cannot read {what} {path}: {first_line(exc)}") from None
