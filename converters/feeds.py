"""Inputs of a model file a user brought, by name: any signature (several inputs, token ids,
attention masks, bool masks), their shapes, and the data that calibrates and verifies them.

``Feeds`` maps each input name to an N × input array. Data comes from the user (``.npz`` with one
array per input name, or ``.npy`` for a single-input model), checked name by name and bounded
before it is read; without data, inputs are generated only where that is sound: float inputs
standard normal (verification only), token ids uniform over the vocabulary the model's embedding
``Gather`` reads (its table's rows), attention masks of ones, token-type ids of zeros. An integer
input whose range cannot be read is never guessed.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgesub._deps import require
from edgesub.errors import ConfigError, ConversionError, DataError, first_line
from edgesub.limits import MAX_NPZ_ARRAYS, MAX_NPZ_BYTES, check_values, regular_file_size

Feeds = dict[str, np.ndarray]
Dims = tuple[int | None, ...]  # batch axis first; None: open (dynamic)

SEED = 0
# Generated verification samples: enough that one top-1 flip (0.4 %) is well below the
# agreement tolerance (convert.int8_max_accuracy_drop, 1.5 points), so the verdict is no coin toss.
SYNTHETIC_VERIFY = 256
SYNTHETIC_CALIBRATION = 64  # generated calibration samples (a different seed)
MASK_WORDS = ("mask",)
ZERO_WORDS = ("token_type", "segment")


@dataclass(frozen=True)
class InputSpec:
    """One model input as the source file declares it."""

    name: str
    dtype: str  # numpy dtype name
    dims: Dims

    @property
    def shown(self) -> str:
        return f"{self.name} [{', '.join('?' if d is None else str(d) for d in self.dims)}]"


def model_inputs(io: Mapping[str, list[dict[str, Any]]]) -> list[InputSpec]:
    """The inputs of a ``describe`` record (-1 dims are open)."""
    return [
        InputSpec(i["name"], i["dtype"], tuple(None if d < 0 else int(d) for d in i["shape"]))
        for i in io["inputs"]
    ]


def resolve_shapes(
    inputs: list[InputSpec], given: Mapping[str | None, tuple[int, ...]] | None
) -> list[InputSpec]:
    """``inputs`` with the dims ``--input-shape`` sets (a shape with or without the batch axis,
    which only has to fit: the data's sample count is the batch).

    A bare shape (key None) is for a single-input model; a name the model lacks is an error that
    lists the inputs. A fixed dim the shape contradicts is an error too.
    """
    given = dict(given or {})
    names = [spec.name for spec in inputs]
    if None in given:
        if len(inputs) != 1:
            raise ConfigError(
                f"the model has {len(inputs)} inputs ({', '.join(names)}); name each one: "
                f"--input-shape {names[0]}=1,128"
            )
        given = {names[0]: given[None]}
    unknown = [name for name in given if name not in names]
    if unknown:
        raise ConfigError(
            f"--input-shape names {', '.join(map(str, unknown))}, which the model lacks; its "
            f"inputs: {', '.join(s.shown for s in inputs)}"
        )
    resolved = []
    for spec in inputs:
        shape = given.get(spec.name)
        if shape is None:
            resolved.append(spec)
            continue
        if len(shape) == len(spec.dims) - 1:
            shape = (None, *shape)  # without the batch axis
        if len(shape) != len(spec.dims) or any(
            have is not None and want is not None and have != want
            for have, want in zip(spec.dims, shape, strict=True)
        ):
            raise ConfigError(
                f"--input-shape {spec.name}={','.join('?' if d is None else str(d) for d in shape)}"
                f" does not fit input {spec.shown}"
            )
        # the batch axis stays the source's: the data's sample count fills an open one
        rest = zip(spec.dims[1:], shape[1:], strict=True)
        dims = (spec.dims[0], *(w if w is not None else h for h, w in rest))
        resolved.append(InputSpec(spec.name, spec.dtype, dims))
    return resolved


def load_feeds(path: Path, inputs: list[InputSpec], what: str = "calibration data") -> Feeds:
    """A ``.npz`` (one array per input name) or, for one input, a ``.npy``, checked against
    ``inputs``: names, dtypes, shapes, one sample count, finite floats; never unpickled."""
    path = Path(path)
    size = regular_file_size(path, f"{what} file", DataError)  # a FIFO would block np.load
    if path.suffix.lower() == ".npz":
        arrays = _read_npz(path, what)
    else:
        if len(inputs) != 1:
            raise DataError(
                f"{what} {path.name}: the model has {len(inputs)} inputs "
                f"({', '.join(s.name for s in inputs)}); give a .npz with one array per input name"
            )
        if size > MAX_NPZ_BYTES:
            raise DataError(f"{what} {path.name} is {size:,} bytes; the limit is {MAX_NPZ_BYTES:,}")
        try:
            arrays = {inputs[0].name: np.load(path, allow_pickle=False)}
        except (OSError, ValueError, EOFError) as exc:
            raise DataError(
                f"cannot read {what} {path} as a .npy array: {first_line(exc)}"
            ) from None
    names = [spec.name for spec in inputs]
    missing = [n for n in names if n not in arrays]
    extra = [n for n in arrays if n not in names]
    if missing or extra:
        parts = [f"missing {', '.join(missing)}"] if missing else []
        parts += [f"extra {', '.join(extra)}"] if extra else []
        raise DataError(
            f"{what} {path.name}: {'; '.join(parts)} (the model's inputs: {', '.join(names)})"
        )
    where = f"{what} {path.name}"
    feeds = {spec.name: _checked(where, spec, arrays[spec.name]) for spec in inputs}
    counts = {name: len(a) for name, a in feeds.items()}
    if len(set(counts.values())) > 1:
        shown = ", ".join(f"{name}: {n}" for name, n in counts.items())
        raise DataError(f"{what} {path.name}: the arrays hold different sample counts ({shown})")
    return feeds


def _read_npz(path: Path, what: str) -> dict[str, np.ndarray]:
    """The arrays of a .npz, its zip directory checked first (count, decompressed size)."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise DataError(f"cannot read {what} {path} as a .npz archive: {exc}") from None
    if len(members) > MAX_NPZ_ARRAYS:
        raise DataError(
            f"{what} {path.name} holds {len(members):,} arrays; the limit is {MAX_NPZ_ARRAYS}"
        )
    total = sum(m.file_size for m in members)
    if total > MAX_NPZ_BYTES:
        raise DataError(
            f"{what} {path.name} decompresses to {total:,} bytes; the limit is {MAX_NPZ_BYTES:,}"
        )
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {name: npz[name] for name in npz.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"cannot read {what} {path}: {first_line(exc)}") from None


def _checked(source: str, spec: InputSpec, x: np.ndarray) -> np.ndarray:
    """``x`` as ``spec`` takes it: float32 stays float32 (and finite), integer ids and masks of
    any integer type are cast when their values fit, bool masks take bool or 0/1."""
    where = f"{source}: '{spec.name}'"
    want = np.dtype(spec.dtype)
    if x.ndim != len(spec.dims) or any(
        d is not None and d != s for d, s in zip(spec.dims[1:], x.shape[1:], strict=False)
    ):
        expected = "N×" + "×".join("?" if d is None else str(d) for d in spec.dims[1:])
        raise DataError(f"{where} has shape {tuple(x.shape)}, the model takes {expected}")
    if len(x) == 0:
        raise DataError(f"{where} is empty")
    check_values(x.shape[1:], f"{where}: one sample of shape")
    if want.kind == "f":
        if x.dtype != want:
            raise DataError(f"{where} must be {want.name}, got {x.dtype}")
        bad = np.flatnonzero(~np.isfinite(x.reshape(len(x), -1)).all(axis=1))
        if bad.size:
            raise DataError(f"{where} sample {int(bad[0])} contains NaN or inf values")
        return np.ascontiguousarray(x)
    if want.kind == "b":
        if x.dtype.kind == "b":
            return np.ascontiguousarray(x)
        if x.dtype.kind in "iu" and np.isin(x, (0, 1)).all():
            return x.astype(bool)
        raise DataError(f"{where} must be bool (or 0/1 integers), got {x.dtype}")
    if x.dtype.kind not in "iu":
        raise DataError(f"{where} must be integers ({want.name}), got {x.dtype}")
    info = np.iinfo(want)
    if x.size and (int(x.min()) < info.min or int(x.max()) > info.max):
        raise DataError(f"{where} holds values outside {want.name}'s range")
    return np.ascontiguousarray(x.astype(want))


def vocabulary_sizes(src: Path) -> dict[str, int]:
    """Input name → rows of the embedding table a ``Gather`` looks it up in (possibly after a
    Cast): the range token ids may take. Inputs read no such way are absent."""
    onnx = require("onnx")
    graph = onnx.load(str(src), load_external_data=False).graph
    tables = {t.name: int(t.dims[0]) for t in graph.initializer if len(t.dims) == 2}
    inputs = {i.name for i in graph.input} - {t.name for t in graph.initializer}
    alias = {n: n for n in inputs}
    for node in graph.node:
        if node.op_type == "Cast" and node.input and node.input[0] in alias:
            alias[node.output[0]] = alias[node.input[0]]
    sizes: dict[str, int] = {}
    for node in graph.node:
        if node.op_type == "Gather" and len(node.input) == 2:
            table, index = node.input
            if index in alias and table in tables:
                sizes.setdefault(alias[index], tables[table])
    return sizes


def synthetic_feeds(
    inputs: list[InputSpec], vocabulary: Mapping[str, int], n: int, seed: int, *, floats: bool
) -> Feeds:
    """Generated inputs where that is sound (see the module doc); ``floats`` allows standard
    normal float inputs (verification of fp32/dynamic int8, never calibration)."""
    rng = np.random.default_rng(seed)
    feeds = {}
    for spec in inputs:
        open_dims = [i for i, d in enumerate(spec.dims[1:], 1) if d is None]
        if open_dims:
            example = ",".join("128" if d is None else str(d) for d in spec.dims[1:])
            raise DataError(
                f"input {spec.shown} has dynamic dimensions; pass --input-shape "
                f"{spec.name}=1,{example} or --calibration DATA.npz with an array per input"
            )
        shape = (n, *(int(d) for d in spec.dims[1:]))
        dtype = np.dtype(spec.dtype)
        lowered = spec.name.lower()
        if dtype.kind == "f":
            if not floats:
                data = (
                    "DATA.npy (float32, N × the model's input shape"
                    if len(inputs) == 1
                    else "DATA.npz (one array per input name"
                )
                raise ConversionError(
                    f"static int8 needs calibration inputs for float input '{spec.name}': pass "
                    f"--calibration {data}, preprocessed as the model expects), or use "
                    "--precision int8_dynamic"
                )
            feeds[spec.name] = rng.standard_normal(shape).astype(dtype)
        elif any(word in lowered for word in MASK_WORDS):
            feeds[spec.name] = np.ones(shape, dtype=dtype)
        elif any(word in lowered for word in ZERO_WORDS):
            feeds[spec.name] = np.zeros(shape, dtype=dtype)
        elif spec.name in vocabulary and dtype.kind in "iu":
            feeds[spec.name] = rng.integers(0, vocabulary[spec.name], size=shape).astype(dtype)
        else:
            raise DataError(
                f"input '{spec.name}' is {dtype.name} and its range cannot be read from the "
                "model (no embedding lookup of it); pass --calibration DATA.npz with an array "
                "per input name"
            )
    return feeds


def count(feeds: Mapping[str, np.ndarray]) -> int:
    return len(next(iter(feeds.values())))


def held_out_feeds(
    feeds: Feeds, y: np.ndarray | None, fraction: float = 0.25
) -> tuple[Feeds, Feeds, np.ndarray | None]:
    """Seeded (calibration, verification, verification labels) split of every input alike, so
    int8 is verified on samples it never saw; one sample is both."""
    n = count(feeds)
    if n < 2:
        return feeds, feeds, y
    order = np.random.default_rng(SEED).permutation(n)
    n_verify = max(1, round(n * fraction))
    cal, ver = order[n_verify:], order[:n_verify]
    return (
        {k: np.ascontiguousarray(v[cal]) for k, v in feeds.items()},
        {k: np.ascontiguousarray(v[ver]) for k, v in feeds.items()},
        None if y is None else y[ver],
    )


def feed_batches(feeds: Mapping[str, np.ndarray], fixed_batch: int | None) -> Iterator[Feeds]:
    """Every input alike, whole or in zero-padded chunks of a fixed batch."""
    from edgesub.converters.tensors import batches

    names = list(feeds)
    parts = [batches(feeds[name], fixed_batch) for name in names]
    for chunk in zip(*parts, strict=True):
        yield dict(zip(names, chunk, strict=True))


def first_sample(feeds: Mapping[str, np.ndarray]) -> Feeds:
    return {name: np.ascontiguousarray(array[:1]) for name, array in feeds.items()}


def load_label_array(path: Path, samples: int, num_classes: int | None, data: str) -> np.ndarray:
    """``--labels-npy``: N integer class indices, one per sample of ``data`` (never unpickled)."""
    regular_file_size(path, "labels file", DataError, MAX_NPZ_BYTES)
    try:
        y = np.load(Path(path), allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(f"cannot read labels {path} as a .npy array: {first_line(exc)}") from None
    if not isinstance(y, np.ndarray) or y.ndim != 1 or y.dtype.kind not in "iu":
        raise DataError(
            f"labels {Path(path).name} must be a 1-D integer array of class indices, got "
            f"{getattr(y, 'dtype', type(y).__name__)} of shape {getattr(y, 'shape', '?')}"
        )
    if len(y) != samples:
        raise DataError(
            f"labels {Path(path).name} has {len(y)} labels, {data} has {samples} samples"
        )
    high = num_classes if num_classes else None
    if y.size and (int(y.min()) < 0 or (high is not None and int(y.max()) >= high)):
        raise DataError(
            f"labels {Path(path).name} holds class indices outside 0..{(high or 1) - 1}"
        )
    return y.astype(np.int64)
