"""The students benchmark's results: JSON, the verdict against the issue's target, markdown."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgesub.atomic import atomic_write_json, atomic_write_text

NATIVE = "subspace_native"
BASELINES = ("ce", "ce_direct", "logit_kd", "fitnets", "dkd", "dist", "simkd")
# Per-run measurements of how the student follows its teacher, averaged over seeds.
DIAGNOSTICS = (
    "teacher_agreement",
    "head_agreement",
    "compressed_head_accuracy",
    "subspace_r2_train",
    "subspace_r2_test",
)
LABELS = {
    NATIVE: "subspace-native",
    "ce": "CE",
    "ce_direct": "CE, no bottleneck",
    "logit_kd": "logit KD",
    "fitnets": "FitNets",
    "dkd": "DKD",
    "dist": "DIST",
    "simkd": "SimKD",
}


def group(r: dict[str, Any]) -> str:
    """What a row is compared within: the task, and in a label-scarce regime its label count."""
    if r.get("regime", "full-labels") == "full-labels":
        return r["task"]
    return f"{r['task']}, {r['labels']:,} labels ({r['regime']})"


def verdict(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Per task (and label count): subspace-native minus the best baseline run there (mean test
    accuracy, points), and whether it is within one standard deviation (the larger of the two
    methods' over seeds) below it; the target is that on every task and >= +1 on at least one."""
    tasks = {}
    for task in dict.fromkeys(group(r) for r in records):
        rows = {r["method"]: r for r in records if group(r) == task}
        best = max((m for m in BASELINES if m in rows), key=lambda m: rows[m]["accuracy_mean"])
        delta = rows[NATIVE]["accuracy_mean"] - rows[best]["accuracy_mean"]
        std = max(rows[NATIVE]["accuracy_std"], rows[best]["accuracy_std"])
        tasks[task] = {
            "best_baseline": best,
            "delta_points": delta,
            "std_points": std,
            "within_one_std": delta >= -std,
            "baselines_run": [m for m in BASELINES if m in rows],
        }
    deltas = [t["delta_points"] for t in tasks.values()]
    return {
        "tasks": tasks,
        "at_least_best_baseline_everywhere": all(d >= 0 for d in deltas),
        "within_one_std_everywhere": all(t["within_one_std"] for t in tasks.values()),
        "one_point_better_somewhere": any(d >= 1 for d in deltas),
    }


def summarise(
    teacher: str, d: int, method: str, seeds: list[dict], searched: int
) -> dict[str, Any]:
    """One record per task × regime × method from its seed runs (means over seeds, and each
    seed's test accuracy)."""
    first = seeds[0]
    test = [r["test_accuracy"] for r in seeds]
    means = {k: float(np.mean([r[k] for r in seeds])) for k in DIAGNOSTICS if k in first}
    return {
        "task": first["task"],
        "regime": first["regime"],
        "labels": first["labels"],
        "unlabeled": first["unlabeled"],
        "teacher": teacher,
        "d": d,
        "method": method,
        "student": f"{first['arch']} w{first['width']} d{first['depth'] or 'default'}",
        "k": first["k"],
        "deployed_params": first["deployed_params"],
        "training_only_params": first["training_only_params"],
        "epochs": first["epochs"],
        "accuracy_mean": float(np.mean(test)),
        "accuracy_std": float(np.std(test)),
        "accuracies": test,
        "seed_accuracies": {str(r["seed"]): r["test_accuracy"] for r in seeds},
        "val_accuracy_mean": float(np.mean([r["val_accuracy"] for r in seeds])),
        "seeds": [r["seed"] for r in seeds],
        "configs_searched": searched,
        "chosen": {key: first[key] for key in ("variant", "lr", "losses")},
        "epochs_run_mean": float(np.mean([r["epochs_run"] for r in seeds])),
        "train_seconds": float(np.mean([r["train_seconds"] for r in seeds])),
        **means,
    }


def write_results(path: Path, results: dict[str, Any]) -> Path:
    """Write the JSON and the markdown beside it; return the markdown's path."""
    results["verdict"] = verdict(results["records"])
    atomic_write_json(path, results)
    return atomic_write_text(path.with_suffix(".md"), markdown(results))


def _acc(r: dict[str, Any] | None) -> str:
    """Mean ± std over seeds; "—" for a method not run on that task (``--method``)."""
    return "—" if r is None else f"{r['accuracy_mean']:.2f} ± {r['accuracy_std']:.2f}"


def markdown(results: dict[str, Any]) -> str:
    records, tasks = results["records"], {group(t): t for t in results["tasks"]}
    methods = [m for m in (NATIVE, *BASELINES) if any(r["method"] == m for r in records)]
    seeds = len(records[0]["seeds"]) if records else 0
    lines = [
        f"# Students: subspace-native distillation against the baselines ({results['mode']})",
        "",
        f"Test accuracy (%), mean ± std over {seeds} seed(s), measured; every method of a task "
        "deploys the same number of parameters (student + head). Δ = subspace-native − best "
        "baseline, in points.",
        "",
        "| task | teacher (d), teacher % | student | k | deployed params | epochs "
        + "".join(f"| {LABELS[m]} " for m in methods)
        + "| Δ |",
        "|---|---|---|---|---|---" + "|---" * (len(methods) + 1) + "|",
    ]
    for task, v in results["verdict"]["tasks"].items():
        rows = {r["method"]: r for r in records if group(r) == task}
        native, t = rows[NATIVE], tasks[task]
        cells = [
            f"**{_acc(rows[m])}**" if m == v["best_baseline"] else _acc(rows.get(m))
            for m in methods
        ]
        lines.append(
            f"| {task} | {t['teacher']} ({t['d']}), {t['teacher_accuracy']:.2f} "
            f"| {native['student']} | {native['k']} | {native['deployed_params']:,} "
            f"| {native['epochs']} | " + " | ".join(cells) + f" | {v['delta_points']:+.2f} |"
        )
    v = results["verdict"]
    lines += [
        "",
        "Best baseline in bold (— : not run on that task). Target (>= best baseline within one "
        "std on every task, >= +1 point on one): within one std "
        f"{'everywhere' if v['within_one_std_everywhere'] else 'NOT everywhere'} ("
        + ", ".join(
            f"{task}: {t['delta_points']:+.2f} vs ± {t['std_points']:.2f}"
            for task, t in v["tasks"].items()
        )
        + f"); +1 point somewhere: {'yes' if v['one_point_better_somewhere'] else 'no'}.",
        "",
        "| task | method | chosen (variant, lr) | deployed params | training-only params "
        "| val % | test % per seed | agrees with teacher % | epochs run | s / run |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in records:
        c = r["chosen"]
        per_seed = ", ".join(f"{a:.2f}" for a in r["accuracies"])
        lines.append(
            f"| {group(r)} | {LABELS[r['method']]} | v{c['variant']} {c['lr']:g} "
            f"| {r['deployed_params']:,} | {r['training_only_params']:,} "
            f"| {r['val_accuracy_mean']:.2f} | {per_seed} | {r['teacher_agreement']:.1f} "
            f"| {r['epochs_run_mean']:.1f} "
            f"| {r['train_seconds']:.0f} |"
        )
    lines += [
        "",
        "Why (subspace-native, test split unless noted): the student's accuracy against the "
        "compressed head's on the teacher's own coordinates (its ceiling if it matched them), "
        "how well it regresses them (R², train / test) and how often it agrees with that head.",
        "",
        "| task | compressed head % | student % | R² train | R² test | agrees with head % |",
        "|---|---|---|---|---|---|",
    ]
    for r in (r for r in records if r["method"] == NATIVE):
        lines.append(
            f"| {group(r)} | {r['compressed_head_accuracy']:.2f} | {_acc(r)} "
            f"| {r['subspace_r2_train']:.2f} | {r['subspace_r2_test']:.2f} "
            f"| {r['head_agreement']:.1f} |"
        )
    lines += ["", "Teachers and compressed heads (k = d/16, gaussian, seed 0), test %:", ""]
    for t in results["tasks"]:
        lines.append(
            f"- {group(t)}: {t['teacher']} {t['teacher_accuracy']:.2f} (trained on "
            f"{t['teacher_labels']:,} labels), compressed head "
            f"{t['compressed_head_accuracy']:.2f}; "
            f"splits {t['n_train']}/{t['n_val']}/{t['n_test']}, student labels {t['labels']:,}, "
            f"unlabeled {t['unlabeled']:,}"
        )
    if results["k_sweep"]:
        lines += [
            "",
            "Subspace-native student against k (cnn_mnist), test %:",
            "",
            "| k | compression | deployed params | compressed head on teacher features | student "
            "| R² test |",
            "|---|---|---|---|---|---|",
        ]
        for r in results["k_sweep"]:
            lines.append(
                f"| {r['k']} | {r['compression']}× | {r['deployed_params']:,} "
                f"| {r['compressed_head_accuracy']:.2f} | {_acc(r)} | {r['subspace_r2_test']:.2f} |"
            )
    lines += ["", f"Total wall time {results['total_seconds']:.0f} s (1 torch thread)."]
    return "\n".join(lines) + "\n"
