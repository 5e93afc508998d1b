"""Unlabeled images in the transfer set: does a student distilled from 500 labelled MNIST digits
gain from 4,000 unlabeled ones?

    python benchmarks/unlabeled.py                      # 3 seeds, edgesub's default epochs
    python benchmarks/unlabeled.py --quick              # 1 seed, fewer epochs (~2 minutes)
    python benchmarks/unlabeled.py --quick --seeds 3    # fewer epochs, 3 seeds (~6 minutes)

Protocol, per seed s (0, 1, 2; --quick: 0; --seeds N: the first N). MNIST-5000
(``mnist5000``) is split stratified with ``data.seed = s`` into test 6 % (300 images),
validation 4 % (200) and a train pool of 4,500 (test and validation are smaller than edgesub's
defaults so the pool holds 500 + 4,000); 500 of the pool (50 per class, stratified, seed s)
keep their labels, the other 4,000 lose them. Inputs
are standardised with the pool's pixel statistics (no labels involved), the same for every arm.
edgesub's default teacher (``wide_cnn``, what ``edgesub run`` trains when no teacher is given,
seed s) learns from the 500 labelled images (validation for early stopping); the default
subspace (gaussian, d/16) and its compressed head are fitted on their features. The
subspace-native student (``small_cnn``, default width and losses) is then distilled from that
same teacher and subspace, with the same batch size, learning rate, patience and seed, in three
arms:

- ``labelled``: the 500 labelled images, ``distill.epochs`` epochs;
- ``labelled, equal steps``: the same 500 images for 9× the epochs, so it takes as many
  optimiser steps as the next arm (is a gain from more data or from more steps?);
- ``+ unlabeled``: the 500 plus the 4,000 unlabeled images in the transfer set, their targets
  from the teacher's cached features (``head_ce`` counts the labelled rows only).

Reported: test accuracy (%) on the 300 test images, mean ± std (population) over seeds; the
teacher's and the compressed head's for context. Writes benchmarks/results/unlabeled.json
(--quick: unlabeled_quick.json) and the markdown table beside it.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from edgesub.atomic import atomic_write_json, atomic_write_text
from edgesub.config import DataConfig, DistillConfig, StudentConfig, SubspaceConfig, TeacherConfig
from edgesub.data import Dataset, Split, load_dataset
from edgesub.data.loaders import split_off
from edgesub.distill import distill
from edgesub.rundir import RunDir
from edgesub.subspace import build_subspace
from edgesub.teachers import train_teacher

RESULTS = Path(__file__).parent / "results"
SEEDS = (0, 1, 2)
LABELLED, UNLABELED = 500, 4000
# test 300, val 200 (0.0399: sklearn rounds 0.04 of the rest up to 201), train pool 4,500
DATA = {"name": "mnist5000", "val_fraction": 0.0399, "test_fraction": 0.06}
ARMS = ("labelled", "labelled, equal steps", "+ unlabeled")
FULL = {"teacher_epochs": TeacherConfig().epochs, "distill_epochs": DistillConfig().epochs}
QUICK = {"teacher_epochs": 8, "distill_epochs": 12}


def semi_supervised(seed: int) -> tuple[Dataset, Dataset]:
    """(500 labelled train images, the same with 4,000 unlabeled ones) of one seed's split."""
    data = load_dataset(DataConfig(seed=seed, **DATA))
    pool = data.train
    if len(pool) != LABELLED + UNLABELED:
        raise SystemExit(f"the train pool has {len(pool)} images, not {LABELLED + UNLABELED}")
    rest, kept = split_off(np.arange(len(pool)), pool.y, LABELLED / len(pool), seed)
    kept, rest = np.sort(kept), np.sort(rest)
    train = Split(pool.x[kept], pool.y[kept], pool.raw.take(kept))
    origin = hashlib.sha256(data.origin.encode() + kept.astype(np.int64).tobytes()).hexdigest()
    labelled = dataclasses.replace(data, train=train, origin=origin)
    return labelled, labelled.with_unlabeled(pool.raw.take(rest)).materialized()


def run_seed(seed: int, settings: dict[str, int], work: Path, progress: bool) -> dict[str, Any]:
    """Teacher and subspace on the labelled images, then the student in every arm."""
    labelled, extended = semi_supervised(seed)
    run = RunDir(work / f"seed{seed}")
    run.root.mkdir(parents=True)
    teacher_cfg = TeacherConfig(seed=seed, epochs=settings["teacher_epochs"])
    teacher = train_teacher(run, labelled, teacher_cfg, progress=progress)
    subspace = build_subspace(run, labelled, SubspaceConfig(sweep=False), progress=progress)
    epochs = settings["distill_epochs"]
    ratio = round((LABELLED + UNLABELED) / LABELLED)  # 9: the unlabeled arm's steps per epoch
    arms = {
        ARMS[0]: (labelled, epochs),
        ARMS[1]: (labelled, epochs * ratio),
        ARMS[2]: (extended, epochs),
    }
    record: dict[str, Any] = {
        "seed": seed,
        "teacher_accuracy": teacher["test_accuracy"],
        "compressed_head_accuracy": subspace["compressed_head_accuracy"],
        "k": subspace["k"],
        "d": subspace["d"],
        "n": _sizes(labelled),
        "arms": {},
    }
    for arm, (data, arm_epochs) in arms.items():
        cfg = DistillConfig(seed=seed, epochs=arm_epochs)
        summary = distill(run, data, StudentConfig(), cfg, progress=progress)
        record["arms"][arm] = {
            "test_accuracy": summary["test_accuracy"],
            "val_accuracy": summary["val_accuracy"],
            "epochs": arm_epochs,
            "epochs_run": summary["epochs_run"],
            "best_epoch": summary["best_epoch"],
            "steps_per_epoch": -(-(len(data.train) + _unlabeled(data)) // cfg.batch_size),
            "unlabeled_samples": summary.get("unlabeled_samples", 0),
            "train_seconds": summary["train_seconds"],
        }
        print(f"seed {seed} {arm}: {summary['test_accuracy']:.2f} %", flush=True)
    return record


def _sizes(labelled: Dataset) -> dict[str, int]:
    n = {"labelled": len(labelled.train), "unlabeled": UNLABELED}
    return {**n, "val": len(labelled.val), "test": len(labelled.test)}


def _unlabeled(data: Dataset) -> int:
    return 0 if data.unlabeled is None else len(data.unlabeled)


def summarise(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean ± std (population) over seeds of each arm's and the teacher's test accuracy."""

    def stats(values: list[float]) -> dict[str, Any]:
        return {"mean": float(np.mean(values)), "std": float(np.std(values)), "values": values}

    out = {arm: stats([r["arms"][arm]["test_accuracy"] for r in records]) for arm in ARMS}
    out["teacher"] = stats([r["teacher_accuracy"] for r in records])
    out["compressed_head"] = stats([r["compressed_head_accuracy"] for r in records])
    out["gain_points"] = out[ARMS[2]]["mean"] - out[ARMS[0]]["mean"]
    out["gain_over_equal_steps_points"] = out[ARMS[2]]["mean"] - out[ARMS[1]]["mean"]
    return out


def markdown(results: dict[str, Any]) -> str:
    s, n = results["summary"], len(results["seeds"])
    shown = lambda r: f"{r['mean']:.2f} ± {r['std']:.2f}"  # noqa: E731
    rows = [
        f"# Unlabeled images in the transfer set ({results['mode']})",
        "",
        f"MNIST-5000: {LABELLED} labelled + {UNLABELED:,} unlabeled training images; test "
        f"accuracy (%) on {results['records'][0]['n']['test']} test images, mean ± std over "
        f"{n} seed(s). Teacher: edgesub's wide_cnn trained on the {LABELLED} labelled images; "
        "subspace-native student (small_cnn), same teacher and subspace in every arm.",
        "",
        "| arm | epochs | steps / epoch | test accuracy % |",
        "|---|---|---|---|",
    ]
    for arm in ARMS:
        first = results["records"][0]["arms"][arm]
        cells = (arm, first["epochs"], first["steps_per_epoch"], shown(s[arm]))
        rows.append("| " + " | ".join(str(c) for c in cells) + " |")
    rows += [
        "",
        f"Teacher {shown(s['teacher'])} %, compressed head {shown(s['compressed_head'])} %. "
        f"Gain of the unlabeled images: {s['gain_points']:+.2f} points over the labelled "
        f"arm, {s['gain_over_equal_steps_points']:+.2f} over equal steps.",
        "",
        f"Command: `{results['command']}` ({results['total_seconds'] / 60:.1f} min, "
        f"{results['machine']['machine']}, torch threads 1).",
        "",
    ]
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 seed, fewer epochs")
    parser.add_argument("--out", type=Path, help="results JSON (default: results/unlabeled.json)")
    parser.add_argument("--seeds", type=int, choices=(1, 2, 3), help="default: 3 (--quick: 1)")
    parser.add_argument("--progress", action="store_true", help="show training progress bars")
    args = parser.parse_args()
    torch.set_num_threads(1)
    out = args.out or RESULTS / ("unlabeled_quick.json" if args.quick else "unlabeled.json")
    settings = QUICK if args.quick else FULL
    seeds = SEEDS[: args.seeds or (1 if args.quick else 3)]
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="edgesub-unlabeled-") as tmp:
        records = [run_seed(s, settings, Path(tmp), args.progress) for s in seeds]
    results = {
        "mode": "quick" if args.quick else "full",
        "protocol": __doc__.split("Protocol, ", 1)[1].split("\n\nReported", 1)[0],
        "command": " ".join(["python benchmarks/unlabeled.py", *sys.argv[1:]]),
        "seeds": list(seeds),
        "settings": settings,
        "records": records,
        "summary": summarise(records),
        "machine": {"machine": platform.machine(), "python": platform.python_version()},
        "total_seconds": round(time.perf_counter() - started, 1),
    }
    atomic_write_json(out, results)
    text = markdown(results)
    atomic_write_text(out.with_suffix(".md"), text)
    print(text)


if __name__ == "__main__":
    main()
