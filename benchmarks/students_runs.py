"""One student run of the students benchmark: a task's inputs, training with a method, and
how closely the trained student follows its teacher."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from teacher_cases import Case, load_case, scarce_labels

from edgesub.config import DistillConfig, StudentConfig
from edgesub.data.dataset import UNLABELED
from edgesub.distill import StudentData, train_student, with_method
from edgesub.distill.losses import needs
from edgesub.distill.targets import CachedTargets, OnlineTargets, SignalMaps
from edgesub.students import deployed_params, width_for_params
from edgesub.subspace.build import Subspace, fit_subspace
from edgesub.subspace.head import Standardiser
from edgesub.teachers.features import Features
from edgesub.training.loop import accuracy

COMPRESSION = 16  # k = d / 16, the paper's setting
TEXT = {"vocab_size": 8000, "max_length": 48}
# Each method's two variants (overrides of its preset in edgesub.distill.methods); with 3
# learning rates that is 6 configurations per method, the same search effort for all.
VARIANTS: dict[str, tuple[dict[str, Any], ...]] = {
    "subspace_native": ({}, {"losses": {"subspace_mse": 1.0, "head_ce": 0.5}}),
    "ce": ({}, {"label_smoothing": 0.1}),
    "ce_direct": ({}, {"label_smoothing": 0.1}),
    "logit_kd": ({}, {"temperature": 2.0}),
    "fitnets": ({}, {"losses": {"fitnets": 1.0, "logit_kd": 1.0, "head_ce": 0.5}}),
    # DKD: the paper's CIFAR-100 β = 8, then a smaller β = 2 (its range is 1–8 across pairs)
    "dkd": ({}, {"losses": {"head_ce": 1.0, "dkd_tckd": 1.0, "dkd_nckd": 2.0}}),
    # DIST: the paper's CIFAR-100 setting (β = γ = 2, τ = 4), then its ImageNet one (1, 1, 1)
    "dist": (
        {},
        {"losses": {"head_ce": 1.0, "dist_inter": 1.0, "dist_intra": 1.0}, "temperature": 1.0},
    ),
    # SimKD: the paper's feature loss alone, then with the labels' CE through the reused head
    "simkd": ({}, {"losses": {"simkd": 1.0, "head_ce": 0.5}}),
}
REGIMES = ("full-labels", "label-scarce", "text-label-scarce")


@dataclasses.dataclass(frozen=True)
class Task:
    name: str
    case: str
    student: StudentConfig
    epochs: int
    quick_epochs: int
    lrs: tuple[float, ...]
    patience: int = 6


@dataclasses.dataclass(frozen=True)
class Prepared:
    """A task's teacher case, its student inputs and the builder options."""

    task: Task
    case: Case
    data: StudentData
    test: tuple[np.ndarray, np.ndarray]
    options: dict[str, Any]
    regime: str = "full-labels"
    # the teacher's features of an input batch, for online targets (None: only its cache)
    teacher_fn: Callable[[torch.Tensor], torch.Tensor] | None = None

    @property
    def labels(self) -> int:
        """Labelled train rows the student (and the compressed head) may use."""
        return len(self.data.train_y) - self.data.unlabeled

    @property
    def unlabeled(self) -> int:
        return self.data.unlabeled

    @property
    def teacher_feats(self) -> dict[str, Features]:
        """The teacher's features with the train split cut to its labelled rows: what the
        compressed head and the standardisations may be fitted on."""
        keep = self.data.train_y != UNLABELED
        train = self.case.feats["train"]
        if keep.all():
            return self.case.feats
        return {**self.case.feats, "train": Features(np.asarray(train.h)[keep], train.y[keep])}

    @property
    def d(self) -> int:
        return int(self.case.feats["train"].h.shape[1])

    @property
    def classes(self) -> int:
        return self.case.data.num_classes


def prepare(task: Task, labels: int | None = None) -> Prepared:
    """Teacher features (cached) and the student's inputs: images, or word ids for text; with
    ``labels``, the teacher trained on those labels where the case can be (load_case)."""
    case = load_case(task.case, progress=True, labels=labels)
    ds = case.data
    xs = {n: s.x for n, s in ds.splits().items()}
    options: dict[str, Any] = {}
    if task.student.arch == "text_transformer":
        from edgesub.data.tokenizer import WordTokenizer

        tok = WordTokenizer.build(
            ds.train.x.tolist(), size=TEXT["vocab_size"], max_length=TEXT["max_length"]
        )
        xs = {n: tok.encode(x.tolist()) for n, x in xs.items()}
        options = {"vocab_size": len(tok.vocab)}
    data = StudentData(xs["train"], ds.train.y, xs["val"], ds.val.y, ds.num_classes)
    return Prepared(task, case, data, (xs["test"], ds.test.y), options)


def label_scarce(p: Prepared, labels: int) -> Prepared:
    """``p`` with only the :func:`scarce_labels` train labels kept, the other train inputs
    unlabeled transfer data: the student trains on all inputs with the teacher's signals, on
    the labels only where it has one; the validation split stays labelled (early stopping and
    the equal search). The teacher is ``p``'s (``prepare(task, labels)``: trained on the same
    labels where the case can be, see ``teacher_labels``)."""
    y = p.data.train_y
    kept = scarce_labels(y, labels)
    masked = np.full_like(y, UNLABELED)
    masked[kept] = y[kept]
    regime = "text-label-scarce" if p.task.student.arch == "text_transformer" else "label-scarce"
    return dataclasses.replace(p, data=dataclasses.replace(p.data, train_y=masked), regime=regime)


def run_one(
    p: Prepared,
    method: str,
    variant: int,
    lr: float,
    seed: int,
    epochs: int,
    k: int,
    work: Path,
    changes: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Train one student; its validation and test accuracy and what it cost. ``changes``
    overrides the method's distillation settings (the ablation's augment and mix, which run
    the teacher on each batch: ``p.teacher_fn``)."""
    base = DistillConfig(epochs=epochs, lr=lr, seed=seed, patience=p.task.patience)
    preset = "ce" if method == "ce_direct" else method
    cfg = with_method(base, preset, **{**VARIANTS[method][variant], **(changes or {})})
    student = p.task.student
    if method == "ce_direct":  # no k bottleneck: out = classes, widened to the same size
        target = deployed_params(
            student.arch,
            student.width,
            k,
            p.data.input_shape,
            p.classes,
            student.depth,
            **p.options,
        )
        k = p.classes
        width = width_for_params(
            student.arch, target, k, p.data.input_shape, p.classes, student.depth, **p.options
        )
        student = dataclasses.replace(student, width=width)
    wanted = needs(cfg.losses)
    h = np.asarray(p.case.feats["train"].h)
    subspace = (
        fit_subspace(p.teacher_feats, "gaussian", k, seed, p.classes)
        if (cfg.head_init == "subspace" or wanted & {"target", "head_logits"})
        else None
    )
    weight, bias = (torch.tensor(np.asarray(a)) for a in p.case.head)
    maps = SignalMaps(
        wanted,
        subspace,
        lambda f: f @ weight.T + bias,
        Standardiser.fit(np.asarray(p.teacher_feats["train"].h)) if "features" in wanted else None,
    )
    started = time.perf_counter()
    model, fit = train_student(
        p.data,
        student,
        cfg,
        _targets(p, cfg, maps, h),
        k=k,
        head=None if subspace is None else subspace.head,
        feature_dim=p.d,
        teacher_head=p.case.head if cfg.head_init == "teacher" else None,
        checkpoint=work / "student.pt",
        fingerprint={},
        options=p.options,
        progress=False,
    )
    seconds = time.perf_counter() - started
    model.eval()
    deployed = sum(t.numel() for t in model.parameters())
    record = {
        "task": p.task.name,
        "regime": p.regime,
        "labels": p.labels,
        "unlabeled": p.unlabeled,
        "method": method,
        "variant": variant,
        "lr": lr,
        "seed": seed,
        "k": k,
        "arch": student.arch,
        "width": student.width,
        "depth": student.depth,
        "losses": dict(cfg.losses),
        "augment": cfg.augment,
        "mix": cfg.mix,
        "deployed_params": deployed,
        # the k → d projector of FitNets (dropped) and of SimKD (folded into the head)
        "training_only_params": p.d * k + p.d if cfg.losses.keys() & {"fitnets", "simkd"} else 0,
        "epochs": epochs,
        "epochs_run": fit.epochs_run,
        "best_epoch": fit.best_epoch,
        "val_accuracy": fit.best_val_accuracy,
        "test_accuracy": accuracy(model, *p.test),
        "train_seconds": round(seconds, 2),
        **diagnostics(p, model, subspace),
    }
    print(
        f"{p.task.name:>15} {method:>15} v{variant} lr={lr:g} seed={seed} k={k:<4} "
        f"val {record['val_accuracy']:6.2f} test {record['test_accuracy']:6.2f} "
        f"({deployed:,} params, {seconds:.0f} s)",
        flush=True,
    )
    return record


def _targets(
    p: Prepared, cfg: DistillConfig, maps: SignalMaps, h: np.ndarray
) -> CachedTargets | OnlineTargets:
    """The cached teacher features, or the teacher run on each (augmented or mixed) batch."""
    if not cfg.online_targets:
        return CachedTargets(maps, h, len(h))
    if p.teacher_fn is None:
        raise SystemExit(f"{p.task.name}: augment and mix need the teacher itself, not its cache")
    return OnlineTargets(maps, p.teacher_fn)


def diagnostics(p: Prepared, model: torch.nn.Module, subspace: Subspace | None) -> dict:
    """Test-split agreement with the teacher's own prediction; for subspace targets also the
    agreement with the compressed head on the teacher's coordinates and the regression's R²
    (train and test): does the student reach its target, and is the target worth reaching?"""
    out = {}
    for split, x in (("train", p.data.train_x), ("test", p.test[0])):
        with torch.no_grad():
            out[split] = torch.cat(
                [model.student(torch.from_numpy(x[i : i + 512])) for i in range(0, len(x), 512)]
            ).numpy()
    pred = model.head(torch.from_numpy(out["test"])).argmax(1).numpy()
    h = np.asarray(p.case.feats["test"].h)
    weight, bias = (np.asarray(a) for a in p.case.head)
    record = {"teacher_agreement": 100.0 * float((pred == (h @ weight.T + bias).argmax(1)).mean())}
    if subspace is not None:
        target = subspace.coordinates(h)
        record["head_agreement"] = 100.0 * float(
            (pred == subspace.head.logits(target).argmax(1)).mean()
        )
        record["compressed_head_accuracy"] = subspace.head.accuracy(target, p.test[1])
        record["subspace_r2_test"] = _r2(out["test"], target)
        record["subspace_r2_train"] = _r2(
            out["train"], subspace.coordinates(np.asarray(p.case.feats["train"].h))
        )
    return record


def _r2(prediction: np.ndarray, target: np.ndarray) -> float:
    residual = ((prediction - target) ** 2).sum()
    return float(1.0 - residual / ((target - target.mean(axis=0)) ** 2).sum())


def teacher_context(p: Prepared) -> dict[str, Any]:
    """The teacher's own test accuracy and the compressed head's at k = d/16 (seed 0, fitted on
    the labelled train rows), and how many labels the student and the teacher had."""
    test = p.case.feats["test"]
    weight, bias = (np.asarray(a) for a in p.case.head)
    teacher = 100.0 * float(((np.asarray(test.h) @ weight.T + bias).argmax(1) == test.y).mean())
    sub = fit_subspace(p.teacher_feats, "gaussian", p.d // COMPRESSION, 0, p.classes)
    return {
        "task": p.task.name,
        "regime": p.regime,
        "labels": p.labels,
        "unlabeled": p.unlabeled,
        "teacher_labels": p.case.teacher_labels or len(p.case.feats["train"].y),
        "teacher": p.case.teacher,
        "d": p.d,
        "k": p.d // COMPRESSION,
        "teacher_accuracy": teacher,
        "compressed_head_accuracy": sub.head.accuracy(sub.coordinates(test.h), test.y),
        "n_train": len(p.data.train_y),
        "n_val": len(p.data.val_y),
        "n_test": len(test.y),
    }
