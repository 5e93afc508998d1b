"""Subspace heads on real teachers: does a fixed random d/16 projection cost ~1 point?

Sections (each merges its part into benchmarks/results/subspace_heads.json and rewrites the
markdown table benchmarks/results/subspace_heads.md):

- cases (default): teacher × task × regime × method × compression, 5 projection seeds each;
  task-trained regime (CNN trained on MNIST-5000, EfficientNet-Lite0 fine-tuned on MNIST-5000,
  frozen MiniLM + a trained wide MLP on Rotten Tomatoes) and frozen regime (EfficientNet-Lite0
  and MiniLM as generic feature extractors). Features are cached under benchmarks/.cache/.
- --head-speed: our head fitting against sklearn LogisticRegression(lbfgs) on the same
  standardised features, one thread each.
- --streaming: a 1,000,000 × 2048 float16 feature file (4 GB) fitted in chunks; peak RSS.

    python benchmarks/subspace_heads.py --quick          # subset, < 5 minutes once cached
    python benchmarks/subspace_heads.py                  # every case (slow the first time)
    python benchmarks/subspace_heads.py --head-speed
    python benchmarks/subspace_heads.py --streaming      # slow: writes and reads 4 GB
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from teacher_cases import Case, load_case

from edgesub.atomic import atomic_write_json, atomic_write_text
from edgesub.jsonfile import read_json_or_empty
from edgesub.subspace.build import fit_subspace
from edgesub.subspace.head import Standardiser, fit_head, fit_head_streaming
from edgesub.subspace.stream import NpyRows, column_moments, write_gaussian_mixture

HEAD_SPEED_CASES = ("effnet_frozen_mnist", "cnn_mnist")
RESULTS = Path(__file__).parent / "results" / "subspace_heads.json"


def peak_rss_mb() -> float:
    """This process's peak resident set so far (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def head_speed(features: dict[str, tuple[np.ndarray, np.ndarray]], label: str) -> dict[str, Any]:
    """Time our fit_head (L2 grid, warm starts, choice on val) against sklearn's lbfgs fitting
    the same grid on the same standardised features; both at one BLAS thread."""
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    from edgesub.subspace.head import L2_GRID

    (h, y), (hv, yv), (ht, yt) = features["train"], features["val"], features["test"]
    std = Standardiser.fit(h)
    z, zv, zt = std(h), std(hv), std(ht)
    started = time.perf_counter()
    ours = fit_head(z, y, zv, yv, int(y.max()) + 1)
    ours_s = time.perf_counter() - started
    best, sk_s = None, 0.0
    with threadpool_limits(limits=1):
        for l2 in L2_GRID:
            started = time.perf_counter()
            model = LogisticRegression(C=1.0 / (l2 * len(y)), max_iter=5000).fit(z, y)
            sk_s += time.perf_counter() - started
            val = model.score(zv, yv)
            if best is None or val > best[0]:
                best = (val, model, l2)
    assert best is not None
    return {
        "features": label,
        "n_train": len(y),
        "d": h.shape[1],
        "l2_grid": list(L2_GRID),
        "ours_seconds": round(ours_s, 3),
        "sklearn_seconds": round(sk_s, 3),
        "time_ratio_ours_over_sklearn": round(ours_s / sk_s, 3),
        "ours_test_accuracy": ours.accuracy(zt, yt),
        "sklearn_test_accuracy": 100.0 * best[1].score(zt, yt),
        "ours_l2": ours.l2,
        "sklearn_l2": best[2],
        "threads": 1,
    }


def streaming_demo(n: int, d: int, num_classes: int = 10, chunk_rows: int = 8192) -> dict:
    """Fit a full d-dim head on an n × d float16 file without loading it: one pass for the
    standardisation, then L-BFGS on loss/gradient summed over chunks (exact, not mini-batch)."""
    folder = Path(tempfile.mkdtemp(prefix="edgesub-stream-", dir=os.environ.get("TMPDIR")))
    train, val = folder / "train.npy", folder / "val.npy"
    try:
        started = time.perf_counter()
        y = write_gaussian_mixture(train, n, d, num_classes, seed=0, chunk_rows=chunk_rows)
        yv = write_gaussian_mixture(val, 10000, d, num_classes, seed=0, chunk_rows=chunk_rows)
        write_s = time.perf_counter() - started
        rows = NpyRows.open(train, chunk_rows=chunk_rows)
        started = time.perf_counter()
        mean, sd = column_moments(rows)
        std = Standardiser(mean.astype(np.float32), np.where(sd > 1e-6, sd, 1).astype(np.float32))
        z_val = std(np.load(val).astype(np.float32))
        head = fit_head_streaming(rows, y, z_val, yv, num_classes, transform=std, grid=(1e-3,))
        fit_s = time.perf_counter() - started
        return {
            "n": n,
            "d": d,
            "dtype": "float16",
            "matrix_size_mb": round(train.stat().st_size / 2**20, 1),
            "chunk_rows": chunk_rows,
            "peak_memory_mb": round(peak_rss_mb(), 1),
            "memory_kind": "measured",
            "write_seconds": round(write_s, 1),
            "fit_seconds": round(fit_s, 1),
            "val_accuracy": head.val_accuracy,
            "l2": head.l2,
        }
    finally:
        for path in (train, val):
            path.unlink(missing_ok=True)
        folder.rmdir()


CASES = (
    "cnn_mnist",
    "effnet_frozen_mnist",
    "effnet_finetuned_mnist",
    "minilm_frozen_rt",
    "mlp_minilm_rt",
)
QUICK_CASES = ("cnn_mnist", "effnet_frozen_mnist", "minilm_frozen_rt", "mlp_minilm_rt")
METHODS = ("gaussian", "sparse", "pca", "lda", "learned")
QUICK_METHODS = ("gaussian", "pca", "lda")
COMPRESSIONS = (4, 8, 16, 32)
QUICK_COMPRESSIONS = (8, 16)
LEARNED_COMPRESSIONS = (8, 16)  # the trained bottleneck is the slow method: two ratios only
RANDOM_METHODS = {"gaussian", "sparse", "learned"}  # pca and lda do not depend on the seed


def evaluate(
    case: Case, methods: tuple[str, ...], compressions: tuple[int, ...], seeds: int
) -> list[dict]:
    """One record per method × compression: test accuracy over projection seeds."""
    feats = case.feats
    d = feats["train"].h.shape[1]
    classes = int(feats["train"].y.max()) + 1
    std = Standardiser.fit(feats["train"].h)
    full = fit_head(
        std(feats["train"].h), feats["train"].y, std(feats["val"].h), feats["val"].y, classes
    )
    full_acc = full.accuracy(std(feats["test"].h), feats["test"].y)
    records = []
    for method in methods:
        for ratio in compressions:
            if method == "learned" and ratio not in LEARNED_COMPRESSIONS:
                continue
            k = d // ratio
            runs = list(range(seeds)) if method in RANDOM_METHODS else [0]
            accs, secs = [], []
            for seed in runs:
                started = time.perf_counter()
                sub = fit_subspace(feats, method, k, seed, classes)
                secs.append(time.perf_counter() - started)
                accs.append(sub.head.accuracy(sub.coordinates(feats["test"].h), feats["test"].y))
            records.append(
                {
                    "teacher": case.teacher,
                    "task": case.task,
                    "regime": case.regime,
                    "method": method,
                    "d": d,
                    "k": k,
                    "compression": d / k,
                    "accuracy_mean": float(np.mean(accs)),
                    "accuracy_std": float(np.std(accs)),
                    "seeds": runs,
                    "full_head_accuracy": full_acc,
                    "fit_seconds": round(float(np.mean(secs)), 3),
                }
            )
            print(
                f"{case.teacher:>32} {case.regime:>12} {method:>8} {ratio:>3}× k={k:<4} "
                f"{np.mean(accs):6.2f} ± {np.std(accs):4.2f} (full {full_acc:.2f})",
                flush=True,
            )
    return records


def merge_results(path: Path, **sections: Any) -> Path:
    """Replace some sections of the results file, keeping the others from earlier runs; write
    the markdown table beside it. Returns the table's path."""
    results = read_json_or_empty(path)
    results.update(sections)
    atomic_write_json(path, results)
    return atomic_write_text(path.with_suffix(".md"), markdown(results))


def markdown(results: dict[str, Any]) -> str:
    """The README's tables: accuracy per case, method and compression; head speed; streaming."""
    lines = ["# Subspace heads on real teachers", ""]
    records = results.get("records", [])
    if records:
        lines += [
            "Test accuracy (%) of a logistic head on k-dim projected teacher features, mean ± std "
            "over projection seeds; Δ = compressed − full head.",
            "",
            "| teacher | task | regime | d | full head | method | compression | k "
            "| accuracy | Δ | seeds | fit s |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in records:
            delta = r["accuracy_mean"] - r["full_head_accuracy"]
            lines.append(
                f"| {r['teacher']} | {r['task']} | {r['regime']} | {r['d']} "
                f"| {r['full_head_accuracy']:.2f} | {r['method']} | {r['compression']:g}× "
                f"| {r['k']} | {r['accuracy_mean']:.2f} ± {r['accuracy_std']:.2f} "
                f"| {delta:+.2f} | {len(r['seeds'])} | {r['fit_seconds']:.2f} |"
            )
        lines.append("")
    for s in results.get("head_speed", []):
        lines.append(
            f"Head fitting on {s['features']} (n={s['n_train']}, d={s['d']}, {len(s['l2_grid'])} "
            f"L2 values, 1 thread): ours {s['ours_seconds']} s, sklearn lbfgs "
            f"{s['sklearn_seconds']} s (ratio {s['time_ratio_ours_over_sklearn']}); test "
            f"accuracy {s['ours_test_accuracy']:.2f} % vs {s['sklearn_test_accuracy']:.2f} %."
        )
    if "streaming" in results:
        s = results["streaming"]
        lines += [
            "",
            f"Streaming fit: {s['n']:,} × {s['d']} {s['dtype']} matrix "
            f"({s['matrix_size_mb']:,} MB on disk), chunks of {s['chunk_rows']} rows: peak RSS "
            f"{s['peak_memory_mb']} MB (measured), fit {s['fit_seconds']} s, val accuracy "
            f"{s['val_accuracy']:.2f} %.",
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="A subset of cases (< 5 min).")
    parser.add_argument("--head-speed", action="store_true", help="Ours vs sklearn timing.")
    parser.add_argument("--streaming", action="store_true", help="The 1M × 2048 fp16 demo.")
    parser.add_argument("--rows", type=int, default=1_000_000, help="Rows of the streaming demo.")
    parser.add_argument("--seeds", type=int, default=5, help="Projection seeds per case.")
    parser.add_argument("--results", type=Path, default=RESULTS, help="JSON file to update.")
    args = parser.parse_args()
    if args.streaming:
        result = streaming_demo(args.rows, 2048)
        merge_results(args.results, streaming=result)
        print(json.dumps(result, indent=2))
        return
    if args.head_speed:
        speeds = [head_speed(_split_arrays(load_case(n, True)), n) for n in HEAD_SPEED_CASES]
        merge_results(args.results, head_speed=speeds)
        print(json.dumps(speeds, indent=2))
        return
    names = QUICK_CASES if args.quick else CASES
    methods = QUICK_METHODS if args.quick else METHODS
    compressions = QUICK_COMPRESSIONS if args.quick else COMPRESSIONS
    records = []
    for name in names:
        records += evaluate(load_case(name, True), methods, compressions, args.seeds)
    table = merge_results(args.results, records=records, mode="quick" if args.quick else "full")
    print(table.read_text(encoding="utf-8"))


def _split_arrays(case: Case) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    return {n: (np.asarray(f.h), f.y) for n, f in case.feats.items()}


if __name__ == "__main__":
    main()
