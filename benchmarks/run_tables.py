"""The README's "What a run gives you" tables, written from a run directory's own records.

    python benchmarks/run_tables.py runs/default [--json]

Prints the report's "What to ship" lines (report.html), the model table (teacher.json,
subspace.json, student.json, artifacts/manifest.json), the profile table (profile.json), the
stage wall times (timings.json) and the host, so the README's figures are copied from a command
rather than typed. ``--json`` prints the same figures as one JSON object.
"""

from __future__ import annotations

import argparse
import html
import json
import platform
import re
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any


def _read(run: Path, name: str) -> dict[str, Any]:
    return json.loads((run / name).read_text(encoding="utf-8"))


def _commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def figures(run: Path) -> dict[str, Any]:
    """Every figure the README quotes from one run, with where and when it was made."""
    teacher, sub = _read(run, "teacher.json"), _read(run, "subspace.json")
    student, manifest = _read(run, "student.json"), _read(run, "artifacts/manifest.json")
    return {
        "run": str(run),
        "date": date.today().isoformat(),
        "commit": _commit(),
        "host": {
            "machine": platform.machine(),
            "cpu": _cpu_name(),
            "python": sys.version.split()[0],
        },
        "teacher": teacher,
        "subspace": {k: v for k, v in sub.items() if k != "sweep"},
        "student": {k: v for k, v in student.items() if k != "fingerprint"},
        "artifacts": manifest["artifacts"],
        "profile": _read(run, "profile.json")["records"],
        "timings": _read(run, "timings.json"),
        "bottom_line": bottom_line(run / "report.html"),
    }


def bottom_line(report: Path) -> list[str]:
    """The "What to ship" items of the run's report, as plain text (code spans kept)."""
    page = report.read_text(encoding="utf-8") if report.is_file() else ""
    found = re.search(r'<ul class="bottom-line">(.*?)</ul>', page, re.S)
    items = re.findall(r"<li>(.*?)</li>", found.group(1), re.S) if found else []
    marks = {"<strong>": "**", "</strong>": "**", "<code>": "`", "</code>": "`"}
    return [html.unescape(re.sub("|".join(marks), lambda m: marks[m[0]], i)) for i in items]


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _g(value: Any) -> str:
    return "—" if value is None else f"{value:.3g}"


def markdown(f: dict[str, Any]) -> str:
    t, s, st = f["teacher"], f["subspace"], f["student"]
    lines = [*(f"- {item}" for item in f["bottom_line"]), ""] if f["bottom_line"] else []
    lines += [
        "| model | test accuracy (%) | size |",
        "|---|---|---|",
        f"| teacher `{t['arch']}` (d = {t['feature_dim']}) | {t['test_accuracy']:.2f} | "
        f"{t['params']:,} parameters |",
        f"| full head on teacher features (d = {s['d']}) | {s['full_head_accuracy']:.2f} | "
        f"{s['full_head_params']:,} parameters |",
        f"| compressed head, `{s['method']}` k = {s['k']} ({s['compression']:g}× smaller) | "
        f"{s['compressed_head_accuracy']:.2f} | {s['compressed_head_params']:,} parameters |",
        f"| student `{st['arch']}` + compressed head (deployed) | {st['test_accuracy']:.2f} | "
        f"{st['deployed_params']:,} parameters |",
    ]
    for a in f["artifacts"]:
        mark = ", recommended" if a.get("recommended") else ""
        ratio = a.get("host_latency_vs_fp32")
        shown = ratio is not None and a.get("precision") != "fp32"
        vs = f", host latency {ratio:.2f}× fp32" if shown else ""
        lines.append(
            f"| `{a['file']}` | {a['accuracy']:.2f} | {a['size_bytes']:,} bytes; max "
            f"\\|Δlogits\\| vs PyTorch {a['parity']['max_abs_diff']:.1e}{vs}{mark} |"
        )
    lines += [
        "",
        "| artifact | device | latency_ms | latency_kind | peak_memory_mb | energy_mj (dynamic) "
        "| energy_kind |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in f["profile"]:
        kind = r["latency_kind"]
        if r.get("latency_error_pct") is not None:
            kind += f" ±{r['latency_error_pct']:g} %"
        energy = (
            "—"
            if r.get("energy_mj") is None
            else f"{_g(r['energy_mj'])} ({_g(r.get('energy_dynamic_mj'))})"
        )
        lines.append(
            f"| `{r['artifact']}` | {r['device']} | {_g(r['latency_ms'])} | {kind} | "
            f"{_g(r['peak_memory_mb'])} ({r['memory_kind']}) | {energy} | {r['energy_kind']} |"
        )
    stages = f["timings"]["stages"]
    times = " · ".join(f"{name} {secs:.1f} s" for name, secs in stages.items())
    lines += [
        "",
        f"Stage wall times: {times} · **total {f['timings']['total_seconds']:.1f} s**.",
        "",
        f"Made on {f['date']} at commit {f['commit']}, on {f['host']['cpu']} "
        f"({f['host']['machine']}), Python {f['host']['python']}.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a run directory, e.g. runs/default")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    f = figures(args.run)
    print(json.dumps(f, indent=2, default=str) if args.json else markdown(f))
    return 0


if __name__ == "__main__":
    sys.exit(main())
