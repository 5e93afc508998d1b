"""Pipeline configuration: dataclasses, loaded from TOML once, validated at the boundary.

Every option of ``edgesub run`` lives here; CLI flags override file values through
:func:`apply_overrides` (dotted keys such as ``distill.epochs``). Stages receive the typed section
they need, never raw dicts.
"""

from __future__ import annotations

import dataclasses
import json
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgesub.errors import ConfigError
from edgesub.limits import MAX_RUNS, MAX_THREADS, check_count, check_finite, read_text_limited

# What a model's scored output is (the manifest's model.output_kind); "auto" detects it.
OUTPUT_KINDS = ("logits", "probabilities", "raw")


@dataclass(frozen=True)
class DataConfig:
    """Which dataset and how it is split (fractions of the whole, stratified, seeded)."""

    name: str = "digits"
    seed: int = 0
    val_fraction: float = 0.15
    test_fraction: float = 0.2
    path: str = ""  # user data (image_folder, csv_text, npy): the folder or file to read
    # unlabeled inputs that extend the distillation transfer set (a folder of images or a text
    # file of sentences); the student's targets on them come from the teacher
    unlabeled: str = ""
    skip_bad_images: bool = False  # skip (and count) undecodable images instead of failing
    text_column: str = "text"  # csv_text / jsonl_text: the column holding the text
    label_column: str = "label"  # ... and the one holding its class name

    def validate(self) -> None:
        _check(0 < self.val_fraction < 0.5, "data.val_fraction must be in (0, 0.5)")
        _check(0 < self.test_fraction < 0.5, "data.test_fraction must be in (0, 0.5)")
        _check(bool(self.text_column), "data.text_column must not be empty")
        _check(bool(self.label_column), "data.label_column must not be empty")


CHANNEL_MODES = ("L", "RGB")
LAYOUTS = ("NCHW", "NHWC")


@dataclass(frozen=True)
class PreprocessConfig:
    """How raw 0–255 pixels become the teacher's input: resize to ``size`` (with ``resize``),
    convert to
    ``channels``, ``pixel * scale``, then ``(· - mean) / std`` per channel, in ``layout``.

    Every field left unset (empty, 0) takes the teacher source's own value (an HF image
    processor, an ONNX or .pt2 input shape), else the data's size and channels, scale 1/255,
    mean 0, std 1 — never statistics edgesub computes on the data."""

    size: tuple[int, ...] = ()  # [H, W]
    scale: float = 0.0  # multiplies raw pixel values 0..255; 0: the source's, else 1/255
    mean: tuple[float, ...] = ()  # per channel, after scaling
    std: tuple[float, ...] = ()
    channels: str = ""  # "L" | "RGB"
    layout: str = ""  # "NCHW" | "NHWC"
    # the filter the teacher was trained with: "area" (default), "bilinear", "bicubic", "nearest"
    resize: str = ""

    def validate(self) -> None:
        _check(
            len(self.size) in (0, 2) and all(s >= 1 for s in self.size),
            f"teacher.preprocess.size must be [H, W] of positive ints, got {list(self.size)}",
        )
        _check(self.scale >= 0, "teacher.preprocess.scale must be > 0")
        _check(all(s > 0 for s in self.std), "teacher.preprocess.std values must be > 0")
        _check(
            self.channels in ("", *CHANNEL_MODES),
            f"teacher.preprocess.channels must be L or RGB, got {self.channels!r}",
        )
        _check(
            self.layout in ("", *LAYOUTS),
            f"teacher.preprocess.layout must be NCHW or NHWC, got {self.layout!r}",
        )
        _check(
            self.resize in ("", "area", "bilinear", "bicubic", "nearest"),
            "teacher.preprocess.resize must be area, bilinear, bicubic or nearest, "
            f"got {self.resize!r}",
        )


@dataclass(frozen=True)
class TeacherConfig:
    """The teacher: the user's own trained model (``source``), used as it is (never trained),
    or, when ``source`` is empty, an ``arch`` edgesub trains on the data (``feature_dim`` is its
    penultimate width d; ``epochs`` and the rest are its training)."""

    source: str = ""  # a teacher spec: model.onnx, model.pt2, file.py:factory, hf:folder, name
    weights: str = ""  # file.py:factory: the .safetensors weights loaded into the built module
    feature_layer: str = ""  # tensor (ONNX) or module path (PyTorch); empty: last linear's input
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    arch: str = "wide_cnn"
    feature_dim: int = 512
    epochs: int = 15
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 1e-4
    seed: int = 0

    def validate(self) -> None:
        _check(self.feature_dim >= 2, "teacher.feature_dim must be >= 2")
        _positive(self, "epochs", "batch_size", "lr")
        self.preprocess.validate()
        _check(
            not self.weights or bool(self.source),
            "teacher.weights needs teacher.source (a file.py:factory that builds the model)",
        )


@dataclass(frozen=True)
class SubspaceConfig:
    """Projection of teacher features to k dims; k = d // compression unless ``k`` is set."""

    method: str = "gaussian"
    compression: int = 16
    k: int = 0
    seed: int = 0
    sweep: bool = True  # also report compressed-head accuracy at compressions 2..64
    methods: tuple[str, ...] = ()  # methods the sweep compares; empty means just ``method``
    auto_k: bool = False  # choose the smallest swept k within ``tolerance`` of the full head
    tolerance: float = 1.0  # accuracy points (validation split) auto_k may give up

    def validate(self) -> None:
        _check(self.compression >= 1, "subspace.compression must be >= 1")
        _check(self.k >= 0, "subspace.k must be >= 0 (0 means feature_dim // compression)")
        _check(self.tolerance >= 0, "subspace.tolerance must be >= 0")

    def resolve_k(self, feature_dim: int) -> int:
        k = self.k or feature_dim // self.compression
        if not 1 <= k < feature_dim:
            raise ConfigError(f"subspace k={k} must satisfy 1 <= k < d={feature_dim}")
        return k


@dataclass(frozen=True)
class StudentConfig:
    """Student architecture by registry name; ``width`` scales its channels, ``depth`` sets its
    blocks/stages/layers (0: the architecture's default)."""

    arch: str = "auto"  # "auto": small_cnn for images, text_transformer for token ids
    width: int = 0  # 0: the architecture's default (small_cnn 16, text_transformer 64, ...)
    depth: int = 0
    # [H, W] the deployed student takes, smaller than the teacher's input; empty: the teacher's
    input_size: tuple[int, ...] = ()

    def validate(self) -> None:
        _check(self.width >= 0, "student.width must be >= 0 (0 means the default)")
        _check(self.depth >= 0, "student.depth must be >= 0 (0 means the default)")
        _check(
            len(self.input_size) in (0, 2) and all(s >= 1 for s in self.input_size),
            f"student.input_size must be [H, W] of positive ints, got {list(self.input_size)}",
        )


HEAD_INITS = ("subspace", "random", "teacher")


@dataclass(frozen=True)
class DistillConfig:
    """Student training: losses by registry name with weights, AdamW + cosine schedule."""

    losses: dict[str, float] = field(
        default_factory=lambda: {"subspace_mse": 1.0, "head_kd": 1.0, "head_ce": 0.5}
    )
    epochs: int = 40
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 1e-4
    temperature: float = 4.0
    patience: int = 10
    seed: int = 0
    train_head: bool = False  # True trains the head too (baselines such as CE or logit KD)
    # "subspace": the fitted compressed head; "random": a fresh Linear; "teacher": a trainable
    # k → d projector then the teacher's own classifier (SimKD), folded into one Linear
    head_init: str = "subspace"
    label_smoothing: float = 0.0  # of head_ce
    augment: str = "none"  # by registry name; anything but "none" computes teacher targets online
    # Batch mixing of the transfer set by registry name (none, mixup, cutmix): blended rows
    # learn from the teacher on the blended input only, so targets are computed online too.
    mix: str = "none"

    def validate(self) -> None:
        _check(bool(self.losses), "distill.losses must name at least one loss")
        _check(all(w >= 0 for w in self.losses.values()), "distill.losses weights must be >= 0")
        _positive(self, "epochs", "batch_size", "lr", "temperature", "patience")
        _check(self.head_init in HEAD_INITS, f"distill.head_init must be one of {HEAD_INITS}")
        _check(
            self.head_init != "random" or self.train_head,
            "distill.head_init = 'random' needs distill.train_head = true (a frozen random head "
            "cannot classify)",
        )
        _check(0 <= self.label_smoothing < 1, "distill.label_smoothing must be in [0, 1)")

    @property
    def online_targets(self) -> bool:
        """Whether the teacher runs on each batch: its input is augmented or mixed, so the
        cached features of the plain inputs are not its targets."""
        return self.augment != "none" or self.mix != "none"


@dataclass(frozen=True)
class ConvertConfig:
    """Which artifacts to export and the verification tolerances they must meet."""

    formats: tuple[str, ...] = ("onnx", "tflite")
    precisions: tuple[str, ...] = ("fp32", "int8")
    opset: int = 17
    fp32_tolerance: float = 1e-4
    int8_max_accuracy_drop: float = 1.5
    calibration_samples: int = 256
    keep_failed: bool = False
    float_io: bool = False  # full-integer int8 TFLite: float32 input/output instead of int8
    dynamic_batch: bool = True  # ONNX: a dynamic batch axis; False fixes the batch at 1
    onnx_int8_activations: str = "int8"  # ONNX static int8: "int8" (S8S8) or "uint8" (U8S8, x86)
    # TFLite exports in a worker process, so Ctrl-C stops them at once; false exports here
    # (a few seconds faster, but Ctrl-C then waits for the running export to finish)
    export_worker: bool = True
    outputs: str = "auto"  # one of OUTPUT_KINDS, or "auto": detected on the verification data

    def validate(self) -> None:
        _check(bool(self.formats), "convert.formats must not be empty")
        _check(bool(self.precisions), "convert.precisions must not be empty")
        _check(self.opset >= 17, "convert.opset must be >= 17")
        _positive(self, "fp32_tolerance", "int8_max_accuracy_drop", "calibration_samples")
        _check(
            self.onnx_int8_activations in ("int8", "uint8"),
            "convert.onnx_int8_activations must be int8 or uint8, "
            f"got {self.onnx_int8_activations!r}",
        )
        _check(
            self.outputs in ("auto", *OUTPUT_KINDS),
            f"convert.outputs must be auto, {', '.join(OUTPUT_KINDS)}; got {self.outputs!r}",
        )


@dataclass(frozen=True)
class ProfileConfig:
    """Devices to estimate on, and how to measure on this machine."""

    devices: tuple[str, ...] = ("raspberry-pi-4b", "raspberry-pi-5", "pixel-4")
    threads: int = 1
    measure: bool = True
    warmup: int = 10
    runs: int = 50
    profiles_dir: str = ""
    # Measure on this device over SSH instead of on this machine ([user@]host[:port]; "": here).
    remote: str = ""
    remote_python: str = ""  # the device's Python with the runtimes ("": a venv is built there)
    ssh_options: tuple[str, ...] = ()  # extra `ssh -o` options, e.g. "IdentityFile=~/.ssh/pi"
    ssh_config: str = ""  # an ssh_config file instead of ~/.ssh/config (`ssh -F`)
    keep_remote: bool = False  # keep the device's temporary folder (to look into a failure)

    def validate(self) -> None:
        _check(bool(self.devices), "profile.devices must name at least one device")
        check_count(self.threads, "profile.threads", 1, MAX_THREADS)
        check_count(self.runs, "profile.runs", 1, MAX_RUNS)
        check_count(self.warmup, "profile.warmup", 0, MAX_RUNS)
        if self.remote:
            parse_remote(self.remote, "profile.remote")
        for option in self.ssh_options:
            check_ssh_option(option, "profile.ssh_options")


@dataclass(frozen=True)
class RemoteTarget:
    """An SSH destination as ``edgesub profile --remote`` takes it: ``[user@]host[:port]``."""

    text: str  # as the user wrote it: the device's label in records
    host: str  # a name, an address or an alias of the user's ~/.ssh/config
    user: str | None = None
    port: int | None = None

    @property
    def destination(self) -> str:
        """What ssh takes as its destination argument."""
        return f"{self.user}@{self.host}" if self.user else self.host


# user and host may not start with "-" (ssh would read them as options); IPv6 in brackets
_REMOTE = re.compile(
    r"^(?:(?P<user>[A-Za-z0-9_.][A-Za-z0-9_.-]*)@)?"
    r"(?:\[(?P<ipv6>[0-9A-Fa-f:.%]+)\]|(?P<host>[A-Za-z0-9_.][A-Za-z0-9_.-]*))"
    r"(?::(?P<port>[0-9]{1,5}))?$"
)
_SSH_OPTION = re.compile(r"^[A-Za-z][A-Za-z0-9]*[= ]\S")


def parse_remote(text: str, key: str = "--remote") -> RemoteTarget:
    """``[user@]host[:port]`` checked: nothing ssh could read as an option, a port in range."""
    match = _REMOTE.match(text)
    port = int(match["port"]) if match and match["port"] else None
    _check(
        match is not None and (port is None or 1 <= port <= 65535),
        f"{key} must be [user@]host[:port] (host: a name, an address, an ~/.ssh/config alias "
        f"or [IPv6]), got {text!r}",
    )
    assert match is not None
    return RemoteTarget(text, match["ipv6"] or match["host"], match["user"], port)


def check_ssh_option(option: str, key: str = "--ssh-option") -> str:
    """One ``ssh -o`` option, ``Name=value``: a name first, so it cannot be another flag."""
    _check(
        bool(_SSH_OPTION.match(option)) and option.isprintable(),
        f"{key} takes ssh_config options as Name=value (e.g. Port=2222), got {option!r}",
    )
    return option


@dataclass(frozen=True)
class RunConfig:
    """The whole pipeline; ``[section]`` tables in TOML map to the fields below."""

    name: str = "default"
    runs_dir: str = "runs"
    data: DataConfig = field(default_factory=DataConfig)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    subspace: SubspaceConfig = field(default_factory=SubspaceConfig)
    student: StudentConfig = field(default_factory=StudentConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)
    convert: ConvertConfig = field(default_factory=ConvertConfig)
    profile: ProfileConfig = field(default_factory=ProfileConfig)

    def validate(self) -> RunConfig:
        check_run_name(self.name)
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if dataclasses.is_dataclass(value):
                value.validate()
        return self

    @property
    def run_dir(self) -> Path:
        return Path(self.runs_dir) / self.name


MAX_RUN_NAME = 100  # characters: one path component, well under every filesystem's limit


def check_run_name(name: str) -> None:
    """A run name is one plain folder name under ``runs_dir``: never ``.``/``..``, a path
    separator or a control character, so no run can point at (or delete) another folder."""
    shown = name.encode("unicode_escape").decode("ascii")[:60]
    _check(
        bool(name) and name not in (".", ".."),
        f"name must be a plain folder name, not {shown!r}",
    )
    _check(
        not any(sep in name for sep in ("/", "\\")),
        f"name must be one folder name without path separators, got {shown!r}",
    )
    _check(
        not any(ord(ch) < 32 or ord(ch) == 127 for ch in name),
        f"name must not contain control characters, got {shown!r}",
    )
    _check(
        len(name) <= MAX_RUN_NAME,
        f"name must be at most {MAX_RUN_NAME} characters, got {len(name)}",
    )


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


def _positive(obj: Any, *names: str) -> None:
    section = type(obj).__name__.removesuffix("Config").lower()
    for name in names:
        _check(getattr(obj, name) > 0, f"{section}.{name} must be > 0")


# former section names still accepted in TOML and --set keys: old name → current name
SECTION_ALIASES = {"compress": "subspace"}


def from_dict(raw: dict[str, Any]) -> RunConfig:
    """Build and validate a RunConfig from nested dicts (TOML); unknown keys are errors."""
    return build_dataclass(RunConfig, _unalias(raw), prefix="").validate()


def _unalias(raw: Any) -> Any:
    """``[compress]`` read as ``[subspace]``; giving both is ambiguous and refused."""
    if not isinstance(raw, dict):
        return raw
    out = dict(raw)
    for old, new in SECTION_ALIASES.items():
        if old in out:
            if new in out:
                raise ConfigError(f"[{old}] is the former name of [{new}]; give only one of them")
            out[new] = out.pop(old)
    return out


def build_dataclass(cls: type, raw: Any, prefix: str) -> Any:
    """``cls`` from a TOML table: unknown keys, missing required fields and values of the wrong
    type are ConfigErrors naming the dotted key (``prefix`` + field). Also used for the
    tables of device profiles."""
    if not isinstance(raw, dict):
        raise ConfigError(f"[{prefix.rstrip('.')}] must be a table")
    hints = typing.get_type_hints(cls)
    fields = dataclasses.fields(cls)
    known = {f.name for f in fields}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(
            f"unknown option {prefix}{unknown[0]}; "
            f"known in this section: {', '.join(sorted(known))}"
        )
    required = [
        f.name
        for f in fields
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    missing = [name for name in required if name not in raw]
    if missing:
        raise ConfigError(f"{prefix}{missing[0]} is missing")
    kwargs = {key: _coerce(hints[key], value, f"{prefix}{key}") for key, value in raw.items()}
    return cls(**kwargs)


def _coerce(hint: Any, value: Any, key: str) -> Any:
    """Check a TOML value against a field's type hint, converting lists to tuples."""
    if dataclasses.is_dataclass(hint):
        return build_dataclass(hint, value, f"{key}.")
    origin = typing.get_origin(hint)
    if origin is tuple and typing.get_args(hint)[0] in (int, float):
        return _number_tuple(typing.get_args(hint)[0], value, key)
    if origin is tuple:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{key} must be a list of strings, got {value!r}")
        return tuple(value)
    if origin is dict:
        if not isinstance(value, dict) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in value.values()
        ):
            raise ConfigError(f"{key} must be a table of name = weight, got {value!r}")
        return {str(k): float(v) for k, v in value.items()}
    if origin in (typing.Union, types.UnionType):
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    return _coerce_scalar(hint, value, key)


def _number_tuple(kind: type, value: Any, key: str) -> tuple:
    """A list of ints or floats (``"224,224"`` from ``--set`` too), each checked finite."""
    if isinstance(value, str):
        value = [v.strip() for v in value.strip("[]").split(",") if v.strip()]
    if not isinstance(value, list | tuple):
        raise ConfigError(f"{key} must be a list of {kind.__name__}s, got {value!r}")
    return tuple(_coerce_scalar(kind, v, key) for v in value)


def _coerce_scalar(hint: type, value: Any, key: str) -> Any:
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in {"true", "false", "1", "0", "yes", "no"}:
            return value.lower() in {"true", "1", "yes"}
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
    elif hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return _finite(float(value), key)
        if isinstance(value, str):
            try:
                return _finite(float(value), key)
            except ValueError:
                pass
    elif hint is str and isinstance(value, str):
        return value
    raise ConfigError(f"{key} must be {hint.__name__}, got {value!r}")


def _finite(value: float, key: str) -> float:
    """TOML and ``float()`` both accept inf and nan; no option means either."""
    check_finite(value, key)
    return value


def load(path: str | Path | None) -> RunConfig:
    """Load a pipeline TOML file (or the defaults when ``path`` is None)."""
    if path is None:
        return RunConfig().validate()
    path = Path(path)
    try:
        raw = tomllib.loads(read_text_limited(path, "config file", ConfigError))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"malformed TOML in {path}: {exc}") from None
    return from_dict(raw)


def apply_overrides(config: RunConfig, overrides: dict[str, Any]) -> RunConfig:
    """Return a copy with dotted-key overrides (``{"distill.epochs": 5}``) applied and validated."""
    raw = to_dict(config)
    for dotted, value in overrides.items():
        if value is None:
            continue
        section, dot, rest = dotted.partition(".")
        dotted = SECTION_ALIASES.get(section, section) + dot + rest
        node = raw
        *parents, leaf = dotted.split(".")
        for part in parents:
            if not isinstance(node.get(part), dict):
                raise ConfigError(f"unknown option {dotted}")
            node = node[part]
        if leaf not in node:
            raise ConfigError(f"unknown option {dotted}")
        node[leaf] = value
    return from_dict(raw)


def to_dict(config: Any) -> dict[str, Any]:
    """Plain nested dict of a config (tuples as lists), the inverse of :func:`from_dict`."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if dataclasses.is_dataclass(value):
            value = to_dict(value)
        elif isinstance(value, tuple):
            value = list(value)
        elif isinstance(value, dict):
            value = dict(value)
        out[f.name] = value
    return out


def to_toml(config: RunConfig) -> str:
    """Serialise the resolved configuration (what actually ran) as TOML."""
    raw = to_dict(config)
    lines = [f"{k} = {toml_value(v)}" for k, v in raw.items() if not isinstance(v, dict)]
    for section, table in raw.items():
        if not isinstance(table, dict):
            continue
        lines += ["", f"[{section}]"]
        scalars = {k: v for k, v in table.items() if not isinstance(v, dict)}
        lines += [f"{k} = {toml_value(v)}" for k, v in scalars.items()]
        for sub, subtable in table.items():
            if isinstance(subtable, dict):
                lines += ["", f"[{section}.{sub}]"]
                lines += [f"{k} = {toml_value(v)}" for k, v in subtable.items()]
    return "\n".join(lines) + "\n"


def toml_value(value: Any) -> str:
    """``value`` as a TOML literal: a basic string with every control character escaped."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    # JSON's string escapes are TOML's, but for DEL, which TOML needs escaped too
    return json.dumps(str(value), ensure_ascii=False).replace("\x7f", "\\u007f")
