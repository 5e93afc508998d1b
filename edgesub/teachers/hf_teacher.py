"""A local Hugging Face transformers folder as a teacher, used as the user trained it.

``hf:DIR`` holds ``config.json``, safetensors weights and the model's own image processor
(``preprocessor_config.json``) or tokenizer. Image classifiers (``*ForImageClassification``)
take preprocessed N×C×H×W batches; sequence classifiers (``*ForSequenceClassification``) take
raw strings and tokenise them with the folder's tokenizer. Everything loads offline, and only
safetensors are read: a folder with nothing but pickled weights is refused before any read.

The features are the input of the classifier's last linear layer (read by a forward pre-hook),
so ``head`` applied to them gives the logits; ``teacher.feature_layer`` names another module
whose pooled output is used instead (then there is no head).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgesub._deps import require
from edgesub.digest import folder_sha256
from edgesub.errors import DataError, EdgesubError, ModelFileError, first_line
from edgesub.limits import read_text_limited
from edgesub.teachers.adapter import pool, resolve_layer
from edgesub.teachers.source import PICKLE_SUFFIXES, Teacher
from edgesub.training.loop import TRAIN_THREADS, torch_threads

if TYPE_CHECKING:
    import torch
    from torch import nn

    from edgesub.config import TeacherConfig

IMAGE, TEXT, ENCODER = "image", "text", "encoder"
# By the saved architecture's name, in this order: a bare ``BertModel`` is a text encoder
# without a classifier, which converts (to sentence embeddings) but cannot teach.
SUFFIX_TASKS = {
    "ForImageClassification": IMAGE,
    "ForSequenceClassification": TEXT,
    "Model": ENCODER,
}
MAX_TEXT_LENGTH = 128
PROBE_IMAGE_SIZE = 224  # a convnet without a declared input size accepts any; this one is safe
RESAVE = "re-save it with model.save_pretrained(dir) (safetensors, the default)"
# what an image processor assumes when its JSON leaves a key out (BaseImageProcessor's defaults)
# Pillow's resample codes a processor saves → edgesub's resize filters (LANCZOS and HAMMING have
# none: those processors resize with area averaging here, say so in [teacher.preprocess])
PIL_FILTERS = {0: "nearest", 2: "bilinear", 3: "bicubic", 4: "area"}
PROCESSOR_DEFAULTS = {"do_resize": True, "do_rescale": True, "rescale_factor": 1 / 255}
PROCESSOR_KEYS = (
    "do_resize",
    "resample",
    "size",
    "do_center_crop",
    "crop_size",
    "do_rescale",
    "rescale_factor",
    "do_normalize",
    "image_mean",
    "image_std",
)
Encoded = tuple[dict[str, Any], Any]  # model keyword inputs, the text attention mask or None


def load_hf_teacher(spec: str, cfg: TeacherConfig) -> Teacher:
    """Load ``hf:DIR`` (or a bare DIR with config.json) as a :class:`Teacher`."""
    found = open_folder(spec)
    folder, config, task = found.folder, found.config, found.task
    if task == ENCODER:
        raise ModelFileError(
            f"{folder} holds an encoder without a classifier "
            f"({', '.join(config.architectures or [config.model_type])}); a teacher "
            "needs class scores: save its *ForSequenceClassification, or convert the encoder "
            f"alone with: edgesub convert hf:{folder}"
        )
    model = load_model(found)
    linear = classifier_linear(model)
    preprocess, encode, probe = _inputs(task, folder, config, found.transformers)
    runner = _runner(model, linear, cfg.feature_layer, encode, folder)
    probed = runner.run(probe, folder)  # a feature layer that cannot give N×d fails here
    runner.widths = (probed[0].shape[1], probed[1].shape[1])
    head = None if cfg.feature_layer else linear_head(linear, probed)
    return Teacher(
        kind="hf",
        source=spec,
        sha256=folder_sha256(folder),
        input_kind=task,
        features=runner.features,
        logits=runner.logits,
        head=head,
        classes=class_names(config),
        preprocess=preprocess,
        params=sum(p.numel() for p in model.parameters()),
        module=model,
    )


def _inputs(
    task: str, folder: Path, config: Any, transformers: Any
) -> tuple[dict[str, Any], Callable[[np.ndarray], Encoded], np.ndarray]:
    """The preprocessing record, the batch → model inputs encoder and a load-time probe."""
    if task == IMAGE:
        preprocess = image_preprocess(folder, config)
        encode = _image_encoder(int(getattr(config, "num_channels", 3)))
        return preprocess, encode, _image_probe(config, preprocess)
    tokenizer = _tokenizer(folder, transformers)
    length = text_max_length(tokenizer, config)
    preprocess = {"input": TEXT, "tokenizer": str(folder), "max_length": length}
    return preprocess, _text_encoder(tokenizer, length), np.array(["a probe sentence", "probe"])


@dataclass(frozen=True)
class Folder:
    """A checked Hugging Face folder, its config and task, before any weights are read."""

    folder: Path
    config: Any
    task: str  # IMAGE, TEXT or ENCODER
    transformers: Any  # the module, imported offline


def open_folder(spec: str) -> Folder:
    """``hf:DIR``'s folder with safetensors weights, its config and what kind of classifier."""
    folder = model_folder(spec)
    check_weights(folder)
    transformers = offline_transformers()
    config = _config(folder, transformers)
    return Folder(folder, config, task_of(config, folder), transformers)


def model_folder(spec: str) -> Path:
    """The folder a spec names, with a config.json that is a JSON object."""
    folder = Path(spec.removeprefix("hf:"))
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise ModelFileError(f"Hugging Face teacher folder {folder} {what}")
    config = folder / "config.json"
    if not config.is_file():
        raise ModelFileError(
            f"{folder} has no config.json; save the model with model.save_pretrained(dir)"
        )
    read_json(config)
    return folder


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from a bounded read of ``path``, or a one-line ModelFileError."""
    try:
        saved = json.loads(read_text_limited(path, "model file", ModelFileError))
    except json.JSONDecodeError as exc:
        raise ModelFileError(f"{path} is not valid JSON ({first_line(exc)})") from None
    if not isinstance(saved, dict):
        raise ModelFileError(f"{path} is not a JSON object")
    return saved


def check_weights(folder: Path) -> None:
    """Safetensors weights must be there; pickles are named and refused, never opened."""
    if any(folder.glob("*.safetensors")):
        return
    pickles = sorted(p.name for p in folder.iterdir() if p.suffix.lower() in PICKLE_SUFFIXES)
    if pickles:
        raise ModelFileError(
            f"{folder} holds only pickled weights ({', '.join(pickles)}), which edgesub never "
            f"loads (unpickling runs code); {RESAVE}"
        )
    raise ModelFileError(f"{folder} has no weights (model.safetensors); {RESAVE}")


def offline_transformers() -> Any:
    """transformers, imported with the Hub switched off so nothing is ever downloaded, and
    without its (and torchao's) load-time chatter: edgesub shows its own progress."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    logging.getLogger("torchao").setLevel(logging.ERROR)  # optional CUDA kernels it lacks
    transformers = require("transformers", "teachers")
    transformers.utils.logging.disable_progress_bar()
    return transformers


def _config(folder: Path, transformers: Any) -> Any:
    try:
        return transformers.AutoConfig.from_pretrained(folder, local_files_only=True)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelFileError(f"{folder}/config.json: {first_line(exc)}") from None


def task_of(config: Any, folder: Path) -> str:
    """IMAGE or TEXT, from the saved architecture's name, else from what transformers knows
    the model type can be."""
    architectures = list(getattr(config, "architectures", None) or [])
    for suffix, task in SUFFIX_TASKS.items():
        if any(name.endswith(suffix) for name in architectures):
            return task
    from transformers.models.auto import modeling_auto as auto

    image = config.model_type in auto.MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES
    text = config.model_type in auto.MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES
    if image and text:
        return IMAGE if (folder / "preprocessor_config.json").is_file() else TEXT
    if image or text:
        return IMAGE if image else TEXT
    named = ", ".join(architectures) or "no architecture named"
    raise ModelFileError(
        f"{folder} holds a {config.model_type} model ({named}), which is neither an image nor "
        "a sequence classifier; edgesub reads *ForImageClassification and "
        "*ForSequenceClassification folders (and converts a bare *Model encoder)"
    )


def load_model(found: Folder) -> nn.Module:
    """The classifier in float32, eval mode, with every parameter from the folder's weights."""
    torch = require("torch")
    folder, config, task, transformers = found.folder, found.config, found.task, found.transformers
    auto = {
        IMAGE: transformers.AutoModelForImageClassification,
        TEXT: transformers.AutoModelForSequenceClassification,
        ENCODER: transformers.AutoModel,
    }[task]
    unreadable = require("safetensors").SafetensorError  # a truncated or empty weights file
    try:
        model, info = auto.from_pretrained(
            folder,
            config=config,
            local_files_only=True,
            use_safetensors=True,
            trust_remote_code=False,
            dtype=torch.float32,
            output_loading_info=True,
        )
    except (OSError, ValueError, KeyError, RuntimeError, TypeError, unreadable) as exc:
        if "ignore_mismatched_sizes" in str(exc):  # transformers points at a logged table
            raise ModelFileError(
                f"{folder}: the weights' shapes do not match the model config.json describes "
                "(see the load report above); save the trained model with "
                "model.save_pretrained(dir)"
            ) from None
        raise ModelFileError(f"cannot load {folder}: {first_line(exc)}") from None
    untrained = sorted(info.get("missing_keys") or []) + [
        str(key[0]) for key in info.get("mismatched_keys") or []
    ]
    if untrained:
        raise ModelFileError(
            f"{folder}: the weights lack {len(untrained)} of {type(model).__name__}'s "
            f"parameters ({', '.join(untrained[:4])}), so they would be random; save the "
            "trained model with model.save_pretrained(dir)"
        )
    return model.eval()


def classifier_linear(model: nn.Module) -> nn.Linear | None:
    """The classifier's last nn.Linear (``model.classifier`` for BERT, ViT, ResNet and most
    families; a head like RoBERTa's dense → tanh → out_proj gives out_proj), else the model's
    last nn.Linear in module order."""
    nn = require("torch").nn
    classifier = getattr(model, "classifier", None)
    scope = classifier if isinstance(classifier, nn.Module) else model
    linears = [m for m in scope.modules() if isinstance(m, nn.Linear)]
    return linears[-1] if linears else None


def class_names(config: Any) -> list[str] | None:
    """The config's id2label in order, unless they are the generic LABEL_0, LABEL_1, …"""
    id2label = {int(k): str(v) for k, v in (getattr(config, "id2label", None) or {}).items()}
    names = [id2label.get(i) for i in range(int(config.num_labels))]
    if None in names or names == [f"LABEL_{i}" for i in range(len(names))]:
        return None
    return [str(name) for name in names]


def image_preprocess(folder: Path, config: Any) -> dict[str, Any]:
    """What the folder's image processor does, as edgesub's preprocessing fields: the final
    input size (the centre crop when it crops; a square of ``shortest_edge`` otherwise, since
    edgesub resizes straight to H×W), ``scale`` on raw 0..255 pixels (1.0 when the processor
    does not rescale), and mean/std (0 and 1 when it does not normalise). Without a processor
    file only the channels and layout the model itself fixes are known."""
    channels = {1: "L", 3: "RGB"}.get(int(getattr(config, "num_channels", 3)))
    out: dict[str, Any] = {"layout": "NCHW", **({"channels": channels} if channels else {})}
    path = folder / "preprocessor_config.json"
    if not path.is_file():
        return out
    saved = read_json(path)
    settings = {**processor_defaults(saved.get("image_processor_type")), **saved}
    size = processed_size(settings)
    if size:
        out["size"] = size
    out["scale"] = float(settings["rescale_factor"]) if settings["do_rescale"] else 1.0
    if settings.get("resample") in PIL_FILTERS:
        out["resize"] = PIL_FILTERS[settings["resample"]]
    n = {"L": 1}.get(channels or "", 3)
    if not settings.get("do_normalize", True):
        out.update(mean=[0.0] * n, std=[1.0] * n)
    elif settings.get("image_mean") is not None and settings.get("image_std") is not None:
        out.update(mean=_floats(settings["image_mean"]), std=_floats(settings["image_std"]))
    return out


def processor_defaults(name: Any) -> dict[str, Any]:
    """The class defaults of the named image processor (what its JSON may leave out)."""
    defaults = dict(PROCESSOR_DEFAULTS)
    try:
        cls = getattr(require("transformers"), str(name), None) if name else None
    except Exception:  # an optional backend of that processor is missing: keep the base defaults
        cls = None
    for key in PROCESSOR_KEYS:
        value = getattr(cls, key, None)
        if value is not None and not callable(value):
            defaults[key] = value
    return defaults


def processed_size(settings: dict[str, Any]) -> list[int] | None:
    """[H, W] of the processor's output, or None when it does not fix one."""
    if settings.get("do_center_crop") and _hw(settings.get("crop_size")):
        return _hw(settings["crop_size"])
    return _hw(settings.get("size")) if settings.get("do_resize") else None


def _hw(size: Any) -> list[int] | None:
    if isinstance(size, int):
        return [size, size]
    if isinstance(size, dict) and "height" in size and "width" in size:
        return [int(size["height"]), int(size["width"])]
    if isinstance(size, dict) and "shortest_edge" in size:
        return [int(size["shortest_edge"])] * 2
    if isinstance(size, list | tuple) and len(size) == 2:
        return [int(s) for s in size]
    return None


def _floats(values: Any) -> list[float]:
    return [float(v) for v in values] if isinstance(values, list | tuple) else [float(values)]


def _tokenizer(folder: Path, transformers: Any) -> Any:
    try:
        return transformers.AutoTokenizer.from_pretrained(folder, local_files_only=True)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelFileError(
            f"{folder} has no usable tokenizer ({first_line(exc)}); save it beside the model "
            "with tokenizer.save_pretrained(dir)"
        ) from None


def text_max_length(tokenizer: Any, config: Any) -> int:
    """128 tokens, or fewer when the tokenizer or the position embeddings allow fewer."""
    limits = [getattr(tokenizer, "model_max_length", None)]
    limits.append(getattr(config, "max_position_embeddings", None))
    return min([MAX_TEXT_LENGTH, *(int(n) for n in limits if isinstance(n, int) and n > 0)])


def _runner(
    model: nn.Module,
    linear: nn.Linear | None,
    layer: str,
    encode: Callable[[np.ndarray], Encoded],
    folder: Path,
) -> Runner:
    """Read the named layer's output, else the classifier linear's input."""
    if layer:
        return Runner(model, resolve_layer(model, layer), f"layer '{layer}'", encode, True)
    if linear is None:
        raise ModelFileError(
            f"{folder}: {type(model).__name__} has no linear classifier to read features "
            "from; name a module in teacher.feature_layer"
        )
    name = next(n for n, m in model.named_modules() if m is linear)
    return Runner(model, linear, f"the input of classifier layer '{name}'", encode, False)


def _image_encoder(channels: int) -> Callable[[np.ndarray], Encoded]:
    def encode(batch: np.ndarray) -> Encoded:
        x = np.ascontiguousarray(batch, dtype=np.float32)
        if x.ndim != 4 or x.shape[1] != channels:
            raise DataError(
                f"the Hugging Face image teacher takes N×{channels}×H×W float32 batches "
                f"(NCHW), got shape {tuple(x.shape)}"
            )
        return {"pixel_values": require("torch").from_numpy(x)}, None

    return encode


def _text_encoder(tokenizer: Any, max_length: int) -> Callable[[np.ndarray], Encoded]:
    def encode(batch: np.ndarray) -> Encoded:
        tokens = tokenizer(
            [str(t) for t in batch],
            padding=True,
            truncation=True,
            max_length=max_length,
            return_tensors="pt",
        )
        return dict(tokens), tokens.get("attention_mask")

    return encode


def _image_probe(config: Any, preprocess: dict[str, Any]) -> np.ndarray:
    """Two random inputs at the size the model takes, for the load-time check."""
    shape = image_input_shape(config, preprocess)
    return np.random.default_rng(0).standard_normal((2, *shape)).astype(np.float32)


def image_input_shape(config: Any, preprocess: dict[str, Any]) -> tuple[int, int, int]:
    """C×H×W an image classifier takes: the processor's size, else the config's image_size,
    else 224 (a convnet without a declared size takes any)."""
    size = preprocess.get("size") or _hw(getattr(config, "image_size", None))
    h, w = size or (PROBE_IMAGE_SIZE, PROBE_IMAGE_SIZE)
    return int(getattr(config, "num_channels", 3)), int(h), int(w)


@dataclass
class Runner:
    """One forward pass → (N×d features read at ``tap``, N×C logits), without gradients."""

    model: nn.Module
    tap: nn.Module
    name: str
    encode: Callable[[np.ndarray], Encoded]
    read_output: bool  # a named feature layer's output; else the classifier linear's input
    widths: tuple[int, int] = (0, 0)  # d and C, known once the load-time probe ran

    def features(self, batch: np.ndarray) -> np.ndarray:
        return self.run(batch)[0]

    def logits(self, batch: np.ndarray) -> np.ndarray:
        return self.run(batch)[1]

    def run(self, batch: np.ndarray, folder: Path | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Features and logits of one batch; ``folder`` marks the load-time probe."""
        torch = require("torch")
        if len(batch) == 0 and all(self.widths):  # a tokenizer refuses an empty list
            d, c = self.widths
            return np.zeros((0, d), np.float32), np.zeros((0, c), np.float32)
        inputs, mask = self.encode(batch)
        captured: list[Any] = []
        if self.read_output:
            hook = self.tap.register_forward_hook(lambda _m, _i, out: captured.append(out))
        else:
            hook = self.tap.register_forward_pre_hook(lambda _m, args: captured.append(args))
        try:
            with torch.no_grad(), torch_threads(TRAIN_THREADS):
                logits = self.model(**inputs).logits
        except EdgesubError:
            raise
        except (RuntimeError, ValueError, IndexError, TypeError) as exc:
            model = type(self.model).__name__
            if folder is not None:  # the load-time probe: the model itself does not run
                raise ModelFileError(
                    f"{folder}: {model} fails on a test batch of {_shape(batch)}: {first_line(exc)}"
                ) from None
            raise DataError(
                f"{model} fails on a batch of {_shape(batch)}: {first_line(exc)}"
            ) from None
        finally:
            hook.remove()
        if not captured:
            raise ModelFileError(f"{self.name} did not run in {type(self.model).__name__}")
        features = self.pooled(captured[-1], len(batch), mask)
        return features, logits.float().numpy()

    def pooled(self, value: Any, n: int, mask: torch.Tensor | None) -> np.ndarray:
        """The captured tensor pooled to N×d (texts: a mean over real tokens, not padding)."""
        torch = require("torch")
        value = _first_tensor(value, torch.Tensor)
        if not isinstance(value, torch.Tensor) or value.dim() < 2:
            raise ModelFileError(f"{self.name} gives {_describe(value)}, not features per sample")
        if mask is not None and value.dim() == 3 and tuple(value.shape[:2]) == tuple(mask.shape):
            weights = mask.unsqueeze(-1).to(value.dtype)
            h = (value * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)
        else:
            h = pool(value)
        if h.dim() != 2 or h.shape[0] != n:
            raise ModelFileError(
                f"{self.name} gives {tuple(value.shape)} for {n} inputs, which does not pool to "
                f"{n}×d features; name another teacher.feature_layer"
            )
        return h.float().numpy().astype(np.float32, copy=False)


def linear_head(
    linear: nn.Linear | None, probe: tuple[np.ndarray, np.ndarray]
) -> tuple[np.ndarray, np.ndarray] | None:
    """The tapped linear as (W, b) when it maps the probe's features onto its logits (not so
    for, e.g., a score layer applied per token and read at the last one)."""
    if linear is None:
        return None
    weight = linear.weight.detach().float().numpy().copy()
    bias = (
        linear.bias.detach().float().numpy().copy()
        if linear.bias is not None
        else np.zeros(weight.shape[0], np.float32)
    )
    features, logits = probe
    if features.shape[1] != weight.shape[1] or logits.shape != (len(features), weight.shape[0]):
        return None
    scale = 1.0 + float(np.abs(logits).max())
    if not np.allclose(features @ weight.T + bias, logits, rtol=1e-4, atol=1e-4 * scale):
        return None
    return weight, bias


def _first_tensor(value: Any, tensor: type) -> Any:
    """The leading tensor of a hook's args tuple, a tuple output or a ModelOutput (a dict)."""
    while not isinstance(value, tensor) and isinstance(value, tuple | list | dict) and value:
        value = next(iter(value.values())) if isinstance(value, dict) else value[0]
    return value


def _describe(value: Any) -> str:
    shape = getattr(value, "shape", None)
    return f"a {tuple(shape)} tensor" if shape is not None else f"a {type(value).__name__}"


def _shape(batch: Any) -> str:
    shape = getattr(batch, "shape", None)
    if shape is None or len(shape) < 2:
        return f"{len(batch)} texts"
    return "×".join(str(s) for s in shape)
