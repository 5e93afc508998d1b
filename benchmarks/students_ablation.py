"""What each change to subspace-native distillation buys: an ablation on a finished students run.

    python benchmarks/students_ablation.py RESULTS.json   # e.g. results/students_label_scarce.json

Protocol: subspace-native's configuration chosen by the run's equal search (variant, learning
rate, k = d/16), then one change at a time, seeds 0–2 each: augmentation-consistent targets
(random 1-pixel shifts, the teacher run on the shifted batch), mixup and CutMix on the transfer
set (half of each batch blended; a blended row learns from the teacher on the blend), twice the
epochs (the transfer set is large), and k chosen by the data (``auto_k``: the smallest swept k
whose compressed head is within 1 validation point of the full head's, fitted on the labelled
rows). Then every change that raised mean *validation* accuracy together (the better of the two
mixes), for subspace-native and for the run's best baseline alike, so a gain every method gets
is not read as the method's. "as benchmarked" is the chosen configuration rerun here (beside
the finished run's own figure: teachers rebuilt on another machine differ slightly). Changes
that run the teacher need the teacher itself (the wide CNN); on a task with only a feature
cache they are not run. Writes <results>_ablation.json and .md; a stopped run resumes from the JSON.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from students import SEEDS
from students_finished import Finished, FollowUp, read_finished
from students_report import LABELS, NATIVE
from students_runs import run_one

from edgesub.atomic import atomic_write_text
from edgesub.config import SubspaceConfig
from edgesub.subspace.build import choose_k, full_head, sweep_compressions

Save = Callable[[list[dict]], None]  # writes the runs so far (a stopped run resumes)


@dataclasses.dataclass(frozen=True)
class Change:
    """One change to the benchmarked configuration."""

    name: str
    distill: dict[str, Any] = dataclasses.field(default_factory=dict)
    epochs_scale: int = 1
    auto_k: bool = False

    @property
    def online(self) -> bool:
        """Whether it runs the teacher on each batch (augment or mix)."""
        return bool(self.distill)


AS_BENCHMARKED = Change("as benchmarked")
CHANGES = (
    Change("augmentation-consistent targets (shift)", {"augment": "shift"}),
    Change("mixup on the transfer set", {"mix": "mixup"}),
    Change("CutMix on the transfer set", {"mix": "cutmix"}),
    Change("2x epochs", epochs_scale=2),
    Change("k chosen by the data (auto_k)", auto_k=True),
)


def data_k(f: Finished) -> int:
    """auto_k's choice on the labelled rows: the smallest swept k within tolerance of the full
    head on the validation split."""
    p, cfg = f.prepared, SubspaceConfig(auto_k=True)
    rows = sweep_compressions(p.teacher_feats, cfg, p.d, p.classes)
    _, full = full_head(p.teacher_feats, p.classes)
    return int(choose_k(rows, cfg.method, full.val_accuracy, cfg.tolerance)["k"])


def combined(changes: list[Change]) -> Change:
    """Every change in ``changes`` at once (they were chosen on validation); one mix only."""
    distill: dict[str, Any] = {}
    for c in changes:
        distill = {**c.distill, **distill}  # the first (best) mix wins
    return Change(
        "all that helped on validation: " + " + ".join(c.name for c in changes),
        distill,
        max((c.epochs_scale for c in changes), default=1),
        any(c.auto_k for c in changes),
    )


def run_change(
    f: Finished, method: str, change: Change, k: int, runs: list[dict], save: Save
) -> dict:
    """The seeds of ``method`` with ``change``; finished seeds in ``runs`` are reused."""
    record, p = f.records[method], f.prepared
    seeds = []
    for seed in SEEDS:
        key = (method, change.name, seed)
        done = [r for r in runs if (r["method"], r["change"], r["seed"]) == key and _same(r, f)]
        if done:
            seeds.append(done[0])
            continue
        with tempfile.TemporaryDirectory(prefix="edgesub-ablation-") as tmp:
            run = run_one(
                p,
                method,
                record["chosen"]["variant"],
                record["chosen"]["lr"],
                seed,
                record["epochs"] * change.epochs_scale,
                k if change.auto_k else f.k,
                Path(tmp),
                changes=change.distill,
            )
        run = {**run, "change": change.name}
        runs.append(run)
        seeds.append(run)
        save(runs)
    return row(f, method, change.name, seeds)


def row(f: Finished, method: str, change: str, seeds: list[dict]) -> dict:
    """Mean ± std over the seeds; the benchmarked configuration also carries the finished
    run's own figure (its machine and teacher build), so a rerun's drift is visible."""
    test = [r["test_accuracy"] for r in seeds]
    val = [r["val_accuracy"] for r in seeds]
    recorded = f.records[method]["accuracy_mean"] if change == AS_BENCHMARKED.name else None
    return {
        **f.group,
        "method": method,
        "change": change,
        "k": seeds[0]["k"],
        "deployed_params": seeds[0]["deployed_params"],
        "accuracy_mean": float(np.mean(test)),
        "accuracy_std": float(np.std(test)),
        "accuracies": test,
        "val_accuracy_mean": float(np.mean(val)),
        "train_seconds": float(np.mean([r["train_seconds"] for r in seeds])),
        "recorded_accuracy_mean": recorded,
    }


def _same(run: dict, f: Finished) -> bool:
    return all(run[k] == v for k, v in f.group.items())


def ablate(f: Finished, runs: list[dict], save: Save) -> list[dict]:
    """The rows of one task: subspace-native as benchmarked and with each change, then the
    helpful changes together for it and for the best baseline."""
    best = max(
        (m for m in f.records if m != NATIVE), key=lambda m: f.records[m]["val_accuracy_mean"]
    )
    k = data_k(f)
    base = run_change(f, NATIVE, AS_BENCHMARKED, k, runs, save)
    tried = [(c, run_change(f, NATIVE, c, k, runs, save)) for c in _runnable(f)]
    ranked = sorted(tried, key=lambda t: -t[1]["val_accuracy_mean"])
    helped = [c for c, r in ranked if r["val_accuracy_mean"] > base["val_accuracy_mean"]]
    rows = [base, *(r for _, r in tried)]
    if helped:
        both = helped[0] if len(helped) == 1 else combined(helped)
        if len(helped) > 1:
            rows.append(run_change(f, NATIVE, both, k, runs, save))
        rows += [run_change(f, best, c, k, runs, save) for c in (AS_BENCHMARKED, both)]
    return [{**r, "auto_k_choice": k} for r in rows]


def _runnable(f: Finished) -> list[Change]:
    """The changes this task can run."""
    return [c for c in CHANGES if not (c.online and f.prepared.teacher_fn is None)]


def markdown(rows: list[dict]) -> str:
    lines = [
        "# Students: what each change to subspace-native distillation buys",
        "",
        "Test and validation accuracy (%), measured, mean ± std over seeds 0–2; Δ = test mean − "
        "the method's own 'as benchmarked' row, in points. Changes are kept on validation "
        "accuracy only.",
        "",
        "| task | method | change | k | deployed params | val % | test % | Δ test |",
        "|---|---|---|---|---|---|---|---|",
    ]
    base = {}
    for r in rows:
        key = (r["task"], r["labels"], r["method"])
        if r["change"] == AS_BENCHMARKED.name:
            base[key] = r["accuracy_mean"]
        delta = r["accuracy_mean"] - base[key]
        change = r["change"]
        if r["recorded_accuracy_mean"] is not None:
            change += f" (the finished run: {r['recorded_accuracy_mean']:.2f})"
        lines.append(
            f"| {r['task']}, {r['labels']:,} labels | {LABELS[r['method']]} | {change} "
            f"| {r['k']} | {r['deployed_params']:,} | {r['val_accuracy_mean']:.2f} "
            f"| {r['accuracy_mean']:.2f} ± {r['accuracy_std']:.2f} | {delta:+.2f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="a full students results JSON")
    parser.add_argument("--task", help="only this task of the results")
    args = parser.parse_args()
    torch.set_num_threads(1)
    follow = FollowUp.beside(args.results, "ablation", __doc__)
    rows: list[dict] = []

    def save(runs: list[dict]) -> None:
        follow.write(runs, rows=rows)
        if rows:
            atomic_write_text(follow.out.with_suffix(".md"), markdown(rows))

    runs = follow.runs
    for f in read_finished(args.results, args.task):
        rows += ablate(f, runs, save)
    save(runs)
    print(follow.out.with_suffix(".md").read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
