"""Accuracy against deployed size: every method of a finished students run at other widths.

    python benchmarks/students_widths.py RESULTS.json --widths 4 8 32 48   # a full run's JSON
    python benchmarks/students_widths.py RESULTS.json --plot-only

Protocol: each method keeps the configuration (variant, learning rate) its equal search chose at
the run's own width and is trained at every width, that one included (rerun here, beside the
run's own figure), with seeds 0–2, the same epochs, k and early stopping. Not searching again
per width keeps the search effort equal across methods at a sixth of the cost; it favours no
method, but one whose best learning rate moves with width is measured slightly below its best.
"CE, no bottleneck" is widened at each width to that width's deployed size (within 10 %), as in
the run. Writes <results>_widths.json, .md and .png; a run stopped part-way resumes from the
JSON (finished seeds are kept).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from students import SEEDS
from students_finished import Finished, FollowUp, read_finished, with_width
from students_report import LABELS, NATIVE
from students_runs import run_one

from edgesub.atomic import atomic_write_text


def sweep(
    f: Finished, widths: list[int], methods: list[str], done: list[dict], save: Any
) -> list[dict]:
    """Per method and width, the seeds' runs (those in ``done`` are not rerun)."""
    runs = list(done)
    have = {(r["method"], r["width"], r["seed"]) for r in runs if _same(r, f)}
    p = f.prepared
    for method in methods:
        record = f.records[method]
        chosen = record["chosen"]
        for width in widths:
            for seed in SEEDS:
                if (method, width, seed) in have:
                    continue
                with tempfile.TemporaryDirectory(prefix="edgesub-widths-") as tmp:
                    run = run_one(
                        with_width(p, width),
                        method,
                        chosen["variant"],
                        chosen["lr"],
                        seed,
                        record["epochs"],
                        f.k,
                        Path(tmp),
                    )
                runs.append({**run, "width": width})
                save(runs)
    return runs


def _same(run: dict, f: Finished) -> bool:
    return all(run[k] == v for k, v in f.group.items())


def curves(f: Finished, runs: list[dict]) -> list[dict]:
    """One point per method and width: deployed params and test accuracy mean ± std over the
    seeds run; at the searched width also the finished run's own figure (its machine and teacher
    build: a rerun's drift is visible)."""
    points, searched = [], f.prepared.task.student.width
    for method, record in f.records.items():
        by_width: dict[int, list[dict]] = {}
        for r in runs:
            if _same(r, f) and r["method"] == method:
                by_width.setdefault(r["width"], []).append(r)
        for width, rs in sorted(by_width.items()):
            acc = [r["test_accuracy"] for r in rs]
            points.append(
                {
                    **f.group,
                    "method": method,
                    "width": width,
                    "deployed_params": rs[0]["deployed_params"],
                    "seeds": len(rs),
                    "accuracy_mean": float(np.mean(acc)),
                    "accuracy_std": float(np.std(acc)),
                    "searched_here": width == searched,
                    "recorded_accuracy_mean": (
                        record["accuracy_mean"] if width == searched else None
                    ),
                }
            )
    return points


def markdown(points: list[dict], name: str) -> str:
    methods = list(dict.fromkeys(p["method"] for p in points))
    widths = sorted({p["width"] for p in points})
    cell = {(p["method"], p["width"]): p for p in points}
    lines = [
        f"# Students: test accuracy (%) against deployed size ({name})",
        "",
        "Measured, mean ± std over the seeds (3 unless noted); deployed parameters in brackets "
        "(student + head). The searched width is marked * (the finished run's own figure "
        "after it); the other widths reuse its chosen configuration.",
        "",
        "| method | " + " | ".join(f"w{w}" for w in widths) + " |",
        "|---|" + "---|" * len(widths),
    ]
    for m in methods:
        cells = []
        for w in widths:
            p = cell.get((m, w))
            cells.append(
                "—"
                if p is None
                else f"{p['accuracy_mean']:.2f} ± {p['accuracy_std']:.2f} "
                f"({p['deployed_params']:,}){_searched(p)}"
                + ("" if p["seeds"] == 3 else f" [{p['seeds']} seeds]")
            )
        lines.append(f"| {LABELS[m]} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _searched(point: dict) -> str:
    recorded = point["recorded_accuracy_mean"]
    return "" if recorded is None else f"* [run: {recorded:.2f}]"


def plot(points: list[dict], title: str, path: Path) -> Path | None:
    """Accuracy against deployed parameters (log axis), one line per method with ± std bars."""
    from edgesub.report.canvas import PALETTE, render

    def draw(fig: Any) -> bool:
        ax = fig.add_subplot()
        methods = list(dict.fromkeys(p["method"] for p in points))
        for i, m in enumerate(methods):
            rows = sorted((p for p in points if p["method"] == m), key=lambda p: p["width"])
            ax.errorbar(
                [p["deployed_params"] for p in rows],
                [p["accuracy_mean"] for p in rows],
                yerr=[p["accuracy_std"] for p in rows],
                label=LABELS[m],
                color=PALETTE[i % len(PALETTE)],
                marker="o" if m == NATIVE else ".",
                linewidth=2.2 if m == NATIVE else 1.2,
                capsize=2,
            )
        ax.set_xscale("log")
        ax.set_xlabel("deployed parameters (student + head)")
        ax.set_ylabel("test accuracy (%), measured, mean ± std over 3 seeds")
        ax.set_title(title)
        ax.legend(ncol=2)
        return bool(points)

    return render(draw, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="a full students results JSON")
    parser.add_argument("--widths", type=int, nargs="+", default=[4, 8, 32, 48])
    parser.add_argument("--method", action="append", help="only these methods (default: all)")
    parser.add_argument("--task", help="only this task of the results")
    parser.add_argument("--plot-only", action="store_true", help="redraw from the JSON")
    args = parser.parse_args()
    torch.set_num_threads(1)
    follow = FollowUp.beside(args.results, "widths", __doc__)
    finished = read_finished(args.results, args.task)
    md, png = follow.out.with_suffix(".md"), follow.out.with_suffix(".png")

    def save(runs: list[dict]) -> None:
        points = [pt for f in finished for pt in curves(f, runs)]
        follow.write(runs, points=points)
        name = ", ".join(_title(f) for f in finished)
        atomic_write_text(md, markdown(points, name))
        plot(points, f"Accuracy vs deployed size: {name}", png)

    runs = follow.runs
    if not args.plot_only:
        for f in finished:
            methods = [m for m in f.records if m in (args.method or f.records)]
            unknown = set(args.method or []) - set(f.records)
            if unknown:
                raise SystemExit(f"--method {', '.join(sorted(unknown))}: not in {args.results}")
            widths = sorted({*args.widths, f.prepared.task.student.width})
            runs = sweep(f, widths, methods, runs, save)
    save(runs)
    print(md.read_text(encoding="utf-8"))


def _title(f: Finished) -> str:
    c = f.context
    regime = "every label" if c["regime"] == "full-labels" else f"{c['labels']:,} labels"
    return f"{c['task']}, {regime}"


if __name__ == "__main__":
    main()
