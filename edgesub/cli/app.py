"""The ``edgesub`` command group, its error handling and the options commands share.

Heavy libraries are imported inside commands, so ``edgesub --help`` stays instant. Errors a user
can cause print one line and exit non-zero; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import copy
import functools
import math
from typing import Any

import click

from edgesub import __version__
from edgesub import config as config_mod
from edgesub.errors import ConfigError, EdgesubError, caused_by_interrupt
from edgesub.jsonfile import dumps_strict
from edgesub.limits import MAX_RUNS, MAX_THREADS, parse_named_shapes


class EdgesubGroup(click.Group):
    """Turns expected failures into one clear line and an exit code instead of a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except BaseException as exc:
            if ctx.params.get("debug") or isinstance(exc, SystemExit):
                raise
            code, message = _describe_failure(exc, ctx.meta.get("resume_hint"))
            click.echo(message, err=True)
            ctx.exit(code)


def _describe_failure(exc: BaseException, resume_hint: str | None) -> tuple[int, str]:
    """One line and an exit code for a failure (130 for Ctrl-C, as shells expect)."""
    if caused_by_interrupt(exc):
        return 130, "interrupted" + (f"; continue with: {resume_hint}" if resume_hint else "")
    if isinstance(exc, EdgesubError):
        return 1, f"error: {exc}"
    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if exc.filename else ""
        return 1, f"error: {exc.strerror or exc}{where}"
    return 1, f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)"


@click.group(cls=EdgesubGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="edgesub")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
def cli(debug: bool) -> None:
    """Distil, convert and profile small models for phones and single-board computers."""


def parse_sets(values: tuple[str, ...]) -> dict[str, str]:
    """``--set KEY=VALUE`` flags as dotted-key config overrides."""
    overrides = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint="--set")
        overrides[key.strip()] = value.strip()
    return overrides


def print_json(data: Any) -> None:
    """What ``--json`` prints: indented, anything not JSON-native as its string; NaN or infinity
    is an error, never the non-JSON ``NaN``/``Infinity`` a parser would choke on."""
    click.echo(dumps_strict(data, "the JSON output", default=_json_value))


def _json_value(obj: Any) -> Any:
    """A record (edgesub.records) as its JSON object, anything else as its string."""
    to_dict = getattr(obj, "to_dict", None)
    return to_dict() if callable(to_dict) else str(obj)


class FiniteFloat(click.ParamType):
    """A float flag that refuses ``inf`` and ``nan`` (``float()`` accepts both): no budget,
    tolerance or normalisation is meant by them, and they would pass every ``> 0`` check."""

    name = "number"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


FINITE_FLOAT = FiniteFloat()
# Counts of the measuring flags, bounded (edgesub.limits): more only hangs or crashes the runtime.
THREADS = click.IntRange(1, MAX_THREADS)
RUNS = click.IntRange(1, MAX_RUNS)
WARMUP = click.IntRange(0, MAX_RUNS)

set_option = click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override any config option, e.g. --set distill.epochs=10 (repeatable; every key: "
    "README, Configuration).",
)
no_progress_option = click.option("--no-progress", is_flag=True, help="Hide progress bars.")
run_dir_argument = click.argument("run_dir", type=click.Path(file_okay=False))


def open_run_with_sets(
    run_dir: str, sets: tuple[str, ...], *, lock: bool = True
) -> tuple[Any, Any]:
    """An existing run, locked for this command (unless a launcher holds the lock for it),
    and its configuration with ``--set`` overrides applied."""
    from edgesub.pipeline import open_run

    run, cfg = open_run(run_dir)
    if lock:
        hold_lock(run)
    return run, config_mod.apply_overrides(cfg, parse_sets(sets))


def hold_lock(run: Any, *, shared: bool = False) -> None:
    """Lock ``run`` until the current command ends (shared: only against writers)."""
    click.get_current_context().with_resource(run.lock(shared=shared))


DEFAULTS = config_mod.RunConfig()


def config_default(dotted: str) -> str:
    """The built-in default of a config option, as help texts show it (``"subspace.k"``)."""
    value: Any = DEFAULTS
    for part in dotted.split("."):
        value = getattr(value, part)
    if isinstance(value, tuple):
        return ", ".join(value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def add_hidden_alias(command: click.Command, name: str) -> None:
    """Register ``command`` under a former name too, kept out of ``--help``."""
    alias = copy.copy(command)
    alias.name, alias.hidden = name, True
    cli.add_command(alias, name)


def parse_shapes(values: tuple[str, ...]) -> dict[str | None, tuple[int, ...]] | None:
    """Repeated ``--input-shape``: ``NAME=1,128`` per input, or one shape (1,3,224,224 or
    1x3x224x224) for every input it fits (keyed None); None when not given."""
    if not values:
        return None
    try:
        return parse_named_shapes(values)
    except ConfigError as exc:
        raise click.BadParameter(str(exc)) from None


# flags that are shorthands for --set KEY=VALUE: (flag, key, help)
TEACHER_FLAGS = (
    (
        "--teacher",
        "teacher.source",
        "Your trained teacher, used as it is: model.onnx, model.pt2, file.py:factory (with "
        "--teacher-weights), hf:DIR, or a bundled one (efficientnet_lite0, minilm) (default: "
        "none, train a wide CNN here).",
    ),
    (
        "--teacher-weights",
        "teacher.weights",
        "The .safetensors weights of file.py:factory (default: none).",
    ),
    (
        "--feature-layer",
        "teacher.feature_layer",
        "Tensor (ONNX) or module path (PyTorch, HF) whose output are the features (default: "
        "the input of the last linear layer).",
    ),
)
DATA_FLAGS = (
    (
        "--data",
        "data",
        "Dataset: a bundled name (digits, mnist5000, rotten_tomatoes), an image folder, "
        f"csv:FILE, jsonl:FILE or npy:DIR (default: {config_default('data.name')}).",
    ),
    (
        "--unlabeled",
        "data.unlabeled",
        "Unlabeled inputs that extend the transfer set: an image folder or a text file, one "
        "sentence per line (default: none).",
    ),
)

# boolean shorthands: the flag given sets its key to true (absent: the config decides)
DATA_SWITCHES = (
    (
        "--skip-bad-images",
        "data.skip_bad_images",
        "Skip image files that cannot be decoded (counted in teacher.json) instead of failing.",
    ),
)


def shorthand_options(
    flags: tuple[tuple[str, str, str], ...], switches: tuple[tuple[str, str, str], ...] = ()
) -> Any:
    """Decorator adding ``flags`` (taking a value) and ``switches`` (on/off) to a command that
    takes ``sets``; each given one becomes the ``--set`` of its key (``--data`` expands to
    data.name and data.path; a switch sets its key to true)."""
    names = [flag.lstrip("-").replace("-", "_") for flag, _, _ in (*flags, *switches)]
    keys = [key for _, key, _ in (*flags, *switches)]

    def decorate(command: Any) -> Any:
        @functools.wraps(command)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            extra: list[str] = []
            for name, key in zip(names, keys, strict=True):
                value = kwargs.pop(name)
                if value is None or value is False:
                    continue
                if key == "data":
                    from edgesub.data.spec import data_overrides

                    extra += [f"{k}={v}" for k, v in data_overrides(value).items()]
                else:
                    extra.append(f"{key}={'true' if value is True else value}")
            kwargs["sets"] = (*extra, *kwargs.get("sets", ()))
            return command(*args, **kwargs)

        for flag, _, text in reversed(switches):
            wrapper = click.option(flag, is_flag=True, default=None, help=text)(wrapper)
        for flag, _, text in reversed(flags):
            wrapper = click.option(flag, help=text, metavar="SPEC")(wrapper)
        return wrapper

    return decorate


teacher_options = shorthand_options(TEACHER_FLAGS)
data_options = shorthand_options(DATA_FLAGS, DATA_SWITCHES)
