"""Typed JSON records: the frozen dataclasses behind ``manifest.json``, ``profile.json`` and
``compare.json`` (docs/schemas.md is generated from them by ``python -m edgesub.schemas_doc``).

A record class declares each key once, with its type, unit and meaning (:func:`field`);
:meth:`Record.to_dict` writes the JSON object in field order and :meth:`Record.from_dict`
reads one back, checking every key: a missing or unknown key, or a value of the wrong type, is
an error naming the file and the key's path (``records[3].latency_ms``). A file's top-level
record also carries ``schema_version``: an older version is migrated when a migration is known,
anything else is refused with the command that rewrites the file.
"""

from __future__ import annotations

import dataclasses
import functools
import types
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

from edgesub.atomic import atomic_write_json
from edgesub.errors import EdgesubError, RecordError
from edgesub.jsonfile import loads_finite
from edgesub.limits import read_text_limited

R = TypeVar("R", bound="Record")
# A migration turns the JSON object of one schema version into that of the next.
Migration = Callable[[dict[str, Any]], dict[str, Any]]


def field(
    doc: str,
    *,
    unit: str | None = None,
    default: Any = dataclasses.MISSING,
    omit_none: bool = False,
    omit_with: str | None = None,
) -> Any:
    """A record field: ``doc`` and ``unit`` are what docs/schemas.md says about its key.

    ``default`` makes the key optional when read (files written before it existed lack it).
    ``omit_none`` leaves the key out of the JSON when the value is None, and ``omit_with`` when
    the named other field is None, for keys that today's files carry only where they apply, so
    a file read and written again is unchanged.
    """
    metadata = {"doc": doc, "unit": unit, "omit_none": omit_none, "omit_with": omit_with}
    return dataclasses.field(default=default, metadata=metadata)


def like(cls: type[Record], name: str, **changes: Any) -> Any:
    """A field documented as ``cls``'s field ``name`` (a key two records share), with
    ``changes`` to its :func:`field` arguments (``omit_none=False``, ``default=None``)."""
    meta = next(f for f in dataclasses.fields(cls) if f.name == name).metadata
    arguments = {"unit": meta["unit"], "omit_none": False, "omit_with": None, **changes}
    return field(meta["doc"], **arguments)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Record:
    """Base of every record: a frozen, keyword-only dataclass of :func:`field` fields."""

    # What the record is, in messages and in docs/schemas.md ("artifact entry").
    TITLE: ClassVar[str] = "record"

    def to_dict(self) -> dict[str, Any]:
        """The JSON object: every field in declaration order (lists for tuples)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None and f.metadata.get("omit_none"):
                continue
            other = f.metadata.get("omit_with")
            if other and getattr(self, other) is None:
                continue
            out[f.name] = plain(value)
        return out

    @classmethod
    def from_dict(
        cls: type[R],
        data: Any,
        source: str | Path = "record",
        *,
        error: type[EdgesubError] = RecordError,
        where: str = "",
        rewrite: str | None = None,
    ) -> R:
        """Check ``data`` (a JSON object read from ``source``) against the fields; raise
        ``error`` naming ``source`` and the key on a missing, unknown or mistyped key, and
        ``rewrite`` (a file's default: its ``REWRITE``), the command that writes it anew."""
        command = rewrite or getattr(cls, "REWRITE", "")
        reader = _Reader(str(source), error, f"`{command}` writes it anew" if command else "")
        return reader.record(cls, cls.upgrade(data, reader), where)

    @classmethod
    def upgrade(cls, data: Any, reader: _Reader) -> Any:
        """``data`` in the layout the fields describe (a file record migrates older versions)."""
        return data

    def replace(self: R, **changes: Any) -> R:
        """A copy with ``changes`` (records are frozen)."""
        return dataclasses.replace(self, **changes)


@dataclasses.dataclass(frozen=True, kw_only=True)
class FileRecord(Record):
    """The top-level record of one JSON file, with its ``schema_version``.

    ``MIGRATIONS[n]`` turns a version-``n`` object into version ``n + 1``; version 0 stands for
    a file without ``schema_version`` (only where such files were once written). ``REWRITE`` is
    the command that writes the file anew, named when a version cannot be read.
    """

    SCHEMA_VERSION: ClassVar[int] = 1
    FILE: ClassVar[str] = "record.json"
    NOUN: ClassVar[str] = "record"  # what the file is, in words
    REWRITE: ClassVar[str] = ""
    MIGRATIONS: ClassVar[Mapping[int, Migration]] = {}

    schema_version: int = field(
        "version of this file's layout: an older one is migrated or refused", default=0
    )

    def __post_init__(self) -> None:
        if self.schema_version == 0:  # not given: the version this edgesub writes
            object.__setattr__(self, "schema_version", self.SCHEMA_VERSION)
        if self.schema_version != self.SCHEMA_VERSION:
            raise RecordError(
                f"{self.FILE} records are schema_version {self.SCHEMA_VERSION}, "
                f"not {self.schema_version}"
            )

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "TITLE" not in cls.__dict__:  # messages and docs name a file by its file name
            cls.TITLE = cls.FILE

    @classmethod
    def upgrade(cls, data: Any, reader: _Reader) -> dict[str, Any]:
        """``data`` migrated to :attr:`SCHEMA_VERSION`, or an error naming :attr:`REWRITE`."""
        if not isinstance(data, dict):
            raise reader.fail(f"not an edgesub {cls.FILE} (expected a JSON object)")
        version = data.get("schema_version", 0)
        if not isinstance(version, int) or isinstance(version, bool):
            raise reader.fail(f"schema_version must be an integer, got {version!r}")
        if version > cls.SCHEMA_VERSION:
            raise reader.fail(
                f"{cls.FILE} schema_version {version} is newer than this edgesub reads "
                f"({cls.SCHEMA_VERSION}): upgrade edgesub"
            )
        while version < cls.SCHEMA_VERSION:
            migrate = cls.MIGRATIONS.get(version)
            if migrate is None:
                what = "no schema_version" if version == 0 else f"schema_version {version}"
                raise reader.fail(
                    f"not an edgesub {cls.FILE} of schema_version {cls.SCHEMA_VERSION} "
                    f"({what}, which this edgesub does not read)"
                )
            data = {**migrate(dict(data)), "schema_version": version + 1}
            version += 1
        return data

    @classmethod
    def read(
        cls: type[R],
        path: str | Path,
        *,
        error: type[EdgesubError] = RecordError,
        rewrite: str | None = None,
    ) -> R:
        """Read and check ``path`` (bounded in size; NaN and infinity refused)."""
        text = read_text_limited(path, cls.NOUN, error)  # type: ignore[attr-defined]
        try:
            data = loads_finite(text)
        except ValueError as exc:  # not JSON, or NaN/Infinity in it
            raise error(
                f"cannot read {cls.NOUN} {path}: {exc} (not a readable {cls.FILE})"  # type: ignore[attr-defined]
            ) from None
        return cls.from_dict(data, path, error=error, rewrite=rewrite)

    def write(self, path: str | Path) -> Path:
        """Write the record to ``path`` atomically."""
        return atomic_write_json(path, self.to_dict())


def plain(value: Any) -> Any:
    """``value`` as JSON data: records as objects, tuples as lists."""
    if isinstance(value, Record):
        return value.to_dict()
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


@functools.cache
def hints(cls: type) -> dict[str, Any]:
    """The evaluated type of each field of a record class."""
    return get_type_hints(cls)


@dataclasses.dataclass(frozen=True)
class _Reader:
    """Checks JSON data against record fields, failing with ``error`` naming ``source``."""

    source: str
    error: type[EdgesubError]
    hint: str = ""  # added to every message: how to get a good file

    def fail(self, message: str, where: str = "") -> EdgesubError:
        hint = f"; {self.hint}" if self.hint else ""
        return self.error(f"{self.source}: {where + ': ' if where else ''}{message}{hint}")

    def record(self, cls: type[R], data: Any, where: str) -> R:
        if not isinstance(data, dict):
            raise self.fail(f"expected a JSON object ({cls.TITLE}), got {_kind(data)}", where)
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = [key for key in data if key not in fields]
        if unknown:
            raise self.fail(
                f"unknown key(s) {', '.join(map(repr, unknown))} in {cls.TITLE}; known: "
                + ", ".join(fields),
                where,
            )
        missing = [
            name
            for name, f in fields.items()
            if name not in data and f.default is dataclasses.MISSING
        ]
        if missing:
            raise self.fail(f"{cls.TITLE} lacks key(s) {', '.join(missing)}", where)
        types_ = hints(cls)
        values = {
            key: self.value(types_[key], value, _join(where, key)) for key, value in data.items()
        }
        try:
            return cls(**values)
        except EdgesubError as exc:  # a record's own check (__post_init__)
            raise self.fail(str(exc), where) from None

    def value(self, hint: Any, value: Any, where: str) -> Any:
        """``value`` checked against ``hint`` (lists become tuples, objects records)."""
        origin, args = get_origin(hint), get_args(hint)
        if hint is Any:
            return value
        if origin in (Union, types.UnionType):
            if value is None and type(None) in args:
                return None
            options = [a for a in args if a is not type(None)]
            problems = []
            for option in options:
                try:
                    return self.value(option, value, where)
                except EdgesubError as exc:
                    problems.append(exc)
            if len(options) == 1:
                raise problems[0]
            raise self.fail(f"expected {describe_type(hint)}, got {_kind(value)}", where)
        if origin is Literal:
            if value in args:
                return value
            raise self.fail(f"expected one of {', '.join(map(repr, args))}, got {value!r}", where)
        if origin is tuple:
            if not isinstance(value, list | tuple):
                raise self.fail(f"expected a list, got {_kind(value)}", where)
            return tuple(self.value(args[0], v, f"{where}[{n}]") for n, v in enumerate(value))
        if origin is dict:
            if not isinstance(value, dict):
                raise self.fail(f"expected an object, got {_kind(value)}", where)
            return {str(k): self.value(args[1], v, _join(where, str(k))) for k, v in value.items()}
        if isinstance(hint, type) and issubclass(hint, Record):
            return self.record(hint, value, where)
        if _is_a(value, hint):
            return value
        raise self.fail(f"expected {describe_type(hint)}, got {_kind(value)}", where)


def _is_a(value: Any, hint: Any) -> bool:
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is dict:
        return isinstance(value, dict)
    return isinstance(value, hint)


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    names = {bool: "a boolean", str: "a string", list: "a list", dict: "an object"}
    for kind, name in names.items():
        if isinstance(value, kind):
            return f"{name} ({value!r})" if kind in (bool, str) else name
    return f"the number {value!r}" if isinstance(value, int | float) else type(value).__name__


def describe_type(hint: Any) -> str:
    """A field type in JSON terms, for messages and docs/schemas.md (``number or null``)."""
    origin, args = get_origin(hint), get_args(hint)
    if hint is Any:
        return "any"
    if origin in (Union, types.UnionType):
        return " or ".join(describe_type(a) for a in args)
    if origin is Literal:
        return " or ".join(f'"{a}"' for a in args)
    if origin is tuple:
        return f"list of {describe_type(args[0])}"
    if origin is dict:
        return "object" if args[1] is Any else f"object of {describe_type(args[1])}"
    if isinstance(hint, type) and issubclass(hint, Record):
        return hint.TITLE
    names = {
        type(None): "null",
        bool: "boolean",
        int: "integer",
        float: "number",
        str: "string",
        dict: "object",
    }
    return names.get(hint, getattr(hint, "__name__", str(hint)))


def record_fields(cls: type[Record]) -> list[tuple[dataclasses.Field, Any]]:
    """Each field of a record class with its evaluated type (docs/schemas.md's rows)."""
    types_ = hints(cls)
    return [(f, types_[f.name]) for f in dataclasses.fields(cls)]


__all__ = [
    "FileRecord",
    "Migration",
    "Record",
    "describe_type",
    "field",
    "like",
    "plain",
    "record_fields",
]
