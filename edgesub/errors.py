"""Errors edgesub reports to users as one clear line (the CLI prints ``str(error)``)."""


class EdgesubError(Exception):
    """Base class: anything a user can cause and fix. The CLI shows it without a traceback."""


class ConfigError(EdgesubError):
    """A configuration file or option is missing, malformed or inconsistent."""


class UnknownNameError(EdgesubError, KeyError):
    """A registry lookup failed; the message lists the known names."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class MissingDependencyError(EdgesubError, ImportError):
    """An optional heavy dependency is not installed; the message names the extra."""


class RunDirError(EdgesubError):
    """The run directory is missing a stage's output, or would be overwritten."""


class DataError(EdgesubError):
    """Input data is unusable (NaN/inf, wrong shape, single class, empty split)."""


class ModelFileError(EdgesubError):
    """A model file is corrupt, truncated, or uses something we cannot handle."""


class ParityError(EdgesubError):
    """A converted artifact disagrees with its source model beyond tolerance."""

    def __init__(self, message: str, numbers: dict | None = None) -> None:
        super().__init__(message)
        self.numbers = numbers or {}


class EstimateError(EdgesubError):
    """A model cannot be estimated on a device (e.g. custom ops with no cost model)."""


class BatchError(EdgesubError):
    """Some items of a batch failed: each was reported on its own line, this sums them up."""


class RecordError(EdgesubError):
    """A JSON record (manifest.json, profile.json, compare.json) has a missing, unknown or
    mistyped key, or a schema version this edgesub does not read (docs/schemas.md)."""


class ConversionError(EdgesubError):
    """Exporting or quantising a model failed (unsupported op, bad calibration, tool failure)."""


def caused_by_interrupt(exc: BaseException) -> bool:
    """Whether Ctrl-C is behind ``exc``: a KeyboardInterrupt while a C extension initialises
    surfaces as ``ImportError: initialization failed`` caused by it."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, KeyboardInterrupt):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def first_line(exc: BaseException) -> str:
    """The headline of a tool's exception (its first non-blank line, else its type), for a
    one-line user-facing error that wraps it."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
