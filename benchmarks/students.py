"""Subspace-native students against the standard distillation baselines, at equal deployed size.

    python benchmarks/students.py            # full: 3 tasks, equal search, 3 seeds, accuracy vs k
    python benchmarks/students.py --quick    # 1 seed, no search, few epochs (< 5 min once cached)
    python benchmarks/students.py --regime label-scarce          # MNIST-5000, 100/300/1,000 labels
    python benchmarks/students.py --regime text-label-scarce     # reviews, 1,000 labels
    python benchmarks/students.py --merge A.json B.json --out C.json  # one result of several runs

Regimes (every record carries ``regime``, ``labels``, ``unlabeled``): ``full-labels`` (the
control: every train label); ``label-scarce``: the MNIST-5000 tasks with ``--labels`` stratified
train labels kept (default 100, 300 and 1,000; seed 0, the same for every seed) and the other
train images as unlabeled transfer data, which every method trains on through the teacher's
signals (CE through them alone: nothing); the compressed head and standardisations are fitted on
the labelled rows only; ``text-label-scarce``: the same on the reviews task (default 1,000
labels). The label-scarce teachers learn from the same labels only: EfficientNet-Lite0
fine-tuned on them (ImageNet pretraining is the knowledge the labels do not give), MiniLM's MLP
head trained on them; the wide CNN (trained from scratch) is the cached one, trained on every
train label, as each record's ``teacher_labels`` says. The validation split stays labelled.
Methods: subspace-native, CE (with and without the k bottleneck), logit KD, FitNets, DKD, DIST
and SimKD.

Protocol (the same for every method of a task): the same student architecture and width, the
same epochs, batch size, AdamW + cosine schedule and early stopping on the validation split; a
search over 3 learning rates × 2 variants of the method (6 runs, seed 0), the best on validation
then run with seeds 1 and 2; test accuracy is the mean ± std over seeds 0–2. Every method ships
the same head ∘ student (student out k, a k → classes head), so deployed parameters are equal;
``ce_direct`` is plain CE on a student without the k bottleneck, widened to the same deployed
size (within 10 %). Teacher features come from the cache of teacher_cases.py. Writes
benchmarks/results/students.json (--quick: students_quick.json) and the markdown table beside it.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from students_report import NATIVE, group, summarise, write_results
from students_runs import (
    COMPRESSION,
    REGIMES,
    VARIANTS,
    Prepared,
    Task,
    label_scarce,
    prepare,
    run_one,
    teacher_context,
)

from edgesub.config import StudentConfig

RESULTS = Path(__file__).parent / "results"
SEEDS = (0, 1, 2)
K_SWEEP = (64, 32, 16, 8, 4)  # compressions of the accuracy-vs-k sweep (cnn_mnist)
QUICK_K_SWEEP = (32, 16, 8)
METHODS = tuple(VARIANTS)
IMAGE_STUDENT = StudentConfig("small_cnn", 16, 3)
TEXT_STUDENT = StudentConfig("text_transformer", 64, 2)
IMAGE_LRS = (1e-3, 3e-3, 1e-2)
TASKS = (
    Task("cnn_mnist", "cnn_mnist", IMAGE_STUDENT, 20, 5, IMAGE_LRS),
    Task("effnet_mnist", "effnet_finetuned_mnist", IMAGE_STUDENT, 20, 5, IMAGE_LRS),
    Task("minilm_reviews", "mlp_minilm_rt", TEXT_STUDENT, 12, 2, (3e-4, 1e-3, 3e-3), patience=4),
)
# The tasks of each regime and its default label counts (None: every label).
REGIME_TASKS = {
    "full-labels": ("cnn_mnist", "effnet_mnist", "minilm_reviews"),
    "label-scarce": ("cnn_mnist", "effnet_mnist"),
    "text-label-scarce": ("minilm_reviews",),
}
DEFAULT_LABELS = {
    "full-labels": (None,),
    "label-scarce": (100, 300, 1000),
    "text-label-scarce": (1000,),
}


def compare(
    p: Prepared, quick: bool, work: Path, methods: tuple[str, ...] = METHODS
) -> tuple[list[dict], list[dict], dict[str, list[dict]]]:
    """Per method: the search on seed 0, then the chosen configuration on the other seeds.
    Returns the per-method records, every run, and each method's seed runs."""
    k = p.d // COMPRESSION
    epochs = p.task.quick_epochs if quick else p.task.epochs
    records, runs, chosen = [], [], {}
    for method in methods:
        grid = [(0, p.task.lrs[0])] if quick else [(v, lr) for v in (0, 1) for lr in p.task.lrs]
        search = [run_one(p, method, v, lr, 0, epochs, k, work) for v, lr in grid]
        best = max(search, key=lambda r: r["val_accuracy"])
        seeds = [best] + [
            run_one(p, method, best["variant"], best["lr"], s, epochs, k, work)
            for s in ([] if quick else SEEDS[1:])
        ]
        runs += search + seeds[1:]
        chosen[method] = seeds
        records.append(summarise(p.case.teacher, p.d, method, seeds, len(grid)))
    return records, runs, chosen


def k_sweep(p: Prepared, main: list[dict], quick: bool, work: Path) -> list[dict]:
    """Subspace-native accuracy against k, with the configuration chosen at k = d/16 (whose
    runs ``main`` are reused)."""
    epochs, chosen = p.task.quick_epochs if quick else p.task.epochs, main[0]
    rows = []
    for ratio in QUICK_K_SWEEP if quick else K_SWEEP:
        k = p.d // ratio
        seeds = (
            main
            if ratio == COMPRESSION
            else [
                run_one(p, "subspace_native", chosen["variant"], chosen["lr"], s, epochs, k, work)
                for s in (SEEDS[:1] if quick else SEEDS)
            ]
        )
        row = summarise(p.case.teacher, p.d, "subspace_native", seeds, 0)
        rows.append({**row, "compression": ratio})
    return rows


def variants(args: argparse.Namespace) -> list[tuple[Task, int | None]]:
    """(task, label count) of the chosen regime; None: every label."""
    tasks = [t for t in TASKS if t.name in REGIME_TASKS[args.regime]]
    if args.task:
        wrong = sorted(set(args.task) - set(REGIME_TASKS[args.regime]))
        if wrong:
            raise SystemExit(f"--task {', '.join(wrong)} is not in the {args.regime} regime")
        tasks = [t for t in tasks if t.name in args.task]
    if args.labels and args.regime == "full-labels":
        raise SystemExit("--labels needs --regime label-scarce or text-label-scarce")
    return [(t, n) for t in tasks for n in (args.labels or DEFAULT_LABELS[args.regime])]


def chosen_methods(wanted: list[str] | None) -> tuple[str, ...]:
    """The methods to run, in benchmark order; subspace-native always (the verdict compares
    against it)."""
    return tuple(m for m in METHODS if m == NATIVE or m in (wanted or METHODS))


def default_out(regime: str, quick: bool) -> Path:
    name = "students" + ("" if regime == "full-labels" else "_" + regime.replace("-", "_"))
    return RESULTS / (name + ("_quick.json" if quick else ".json"))


def merge(paths: list[Path]) -> dict[str, Any]:
    """One result of several runs of the same regime and mode (one process per task and label
    count, or per method of a task): their tasks, records and runs, and their summed time. A
    task in several files must have the same teacher context, a method in several the same
    per-seed accuracies (subspace-native, rerun with every ``--method``); each is kept once."""
    missing = [str(path) for path in paths if not path.is_file()]
    if missing:
        raise SystemExit(f"--merge: no such file: {', '.join(missing)}")
    parts = [json.loads(path.read_text(encoding="utf-8")) for path in paths]
    kinds = {(r["regime"], r["mode"]) for r in parts}
    if len(kinds) != 1:
        raise SystemExit(f"--merge: the files mix regimes or modes: {sorted(kinds)}")
    merged = {**parts[0], "merged_from": [path.name for path in paths]}
    merged["tasks"] = _once([t for r in parts for t in r["tasks"]], group, lambda t: t)
    merged["records"] = _once(
        [x for r in parts for x in r["records"]],
        lambda x: (group(x), x["method"]),
        lambda x: x["seed_accuracies"],
    )
    run_key = ("method", "variant", "lr", "seed", "k")
    merged["runs"] = _once(
        [x for r in parts for x in r["runs"]],
        lambda x: (group(x), *(x[k] for k in run_key)),
        lambda x: x["test_accuracy"],
    )
    merged["k_sweep"] = [row for r in parts for row in r["k_sweep"]]
    merged["total_seconds"] = round(sum(r["total_seconds"] for r in parts), 1)
    return merged


def _once(rows: list[dict], key: Callable[[dict], Any], same: Callable[[dict], Any]) -> list:
    """``rows`` with repeats of a key dropped; a repeat that differs in ``same`` is refused."""
    kept: dict[Any, dict] = {}
    for row in rows:
        k = key(row)
        if k in kept and same(kept[k]) != same(row):
            raise SystemExit(f"--merge: {k} differs between the files")
        kept.setdefault(k, row)
    return list(kept.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 seed, no search, few epochs")
    parser.add_argument("--task", action="append", choices=[t.name for t in TASKS])
    parser.add_argument("--regime", choices=REGIMES, default="full-labels")
    parser.add_argument(
        "--labels", type=int, action="append", help="train labels kept (label-scarce regimes)"
    )
    parser.add_argument(
        "--method",
        action="append",
        choices=METHODS,
        help="run only these methods (subspace_native always runs; default: all)",
    )
    parser.add_argument("--out", type=Path, help="results JSON (default: results/students.json)")
    parser.add_argument(
        "--merge", type=Path, nargs="+", metavar="JSON", help="combine finished results into --out"
    )
    args = parser.parse_args()
    if args.merge:
        merged = merge(args.merge)
        out = args.out or default_out(merged["regime"], merged["mode"] == "quick")
        print(write_results(out, merged).read_text(encoding="utf-8"))
        return
    runs = variants(args)
    methods = chosen_methods(args.method)
    torch.set_num_threads(1)
    out = args.out or default_out(args.regime, args.quick)
    started = time.perf_counter()
    results: dict[str, Any] = {
        "mode": "quick" if args.quick else "full",
        "regime": args.regime,
        "tasks": [],
        "records": [],
        "runs": [],
        "k_sweep": [],
        "machine": {
            "machine": platform.machine(),
            "python": platform.python_version(),
            "torch_threads": 1,
        },
    }
    with tempfile.TemporaryDirectory(prefix="edgesub-students-") as tmp:
        for task, labels in runs:
            p = prepare(task, labels)
            p = p if labels is None else label_scarce(p, labels)
            results["tasks"].append(teacher_context(p))
            records, task_runs, chosen = compare(p, args.quick, Path(tmp), methods)
            results["records"] += records
            results["runs"] += task_runs
            if task.name == "cnn_mnist" and labels is None:
                main_runs = chosen["subspace_native"]
                results["k_sweep"] = k_sweep(p, main_runs, args.quick, Path(tmp))
            results["total_seconds"] = round(time.perf_counter() - started, 1)
            markdown = write_results(out, results)  # after every task: a stopped run keeps it
    print(markdown.read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
