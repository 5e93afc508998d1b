"""A finished students run read back: its task prepared again and each method's chosen
configuration, for the follow-up benchmarks (width sweep, ablation) that reuse the run's equal
search instead of repeating it."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

from students import TASKS
from students_report import NATIVE
from students_runs import Prepared, label_scarce, prepare
from teacher_cases import online_teacher

from edgesub.atomic import atomic_write_json


@dataclasses.dataclass(frozen=True)
class Finished:
    """One task (and label count) of a results file: the task prepared as the run had it and
    the run's per-method records (``chosen`` variant and learning rate, k, seed accuracies)."""

    prepared: Prepared
    records: dict[str, dict[str, Any]]
    context: dict[str, Any]

    @property
    def k(self) -> int:
        """The task's k: every method's but CE without the bottleneck's, which records its
        output size and is widened from the k-bottlenecked student's deployed size."""
        return int(self.records[NATIVE]["k"])

    @property
    def group(self) -> dict[str, Any]:
        """The keys every derived row carries, as the students records do."""
        p = self.prepared
        return {"task": p.task.name, "regime": p.regime, "labels": p.labels}


def read_finished(path: Path, task: str | None = None) -> list[Finished]:
    """Every task of a students results JSON (or only ``task``), prepared again; one line and
    exit when the file is not one."""
    if not path.is_file():
        raise SystemExit(f"no such results file: {path}")
    results = json.loads(path.read_text(encoding="utf-8"))
    if results.get("mode") != "full" or "records" not in results:
        raise SystemExit(f"{path}: not the results of a full students run")
    by_name = {t.name: t for t in TASKS}
    out = []
    for context in results["tasks"]:
        if task and context["task"] != task:
            continue
        context = {"regime": "full-labels", **context}  # runs before regimes were recorded
        labels = None if context["regime"] == "full-labels" else context["labels"]
        spec = by_name[context["task"]]
        p = prepare(spec, labels)
        p = p if labels is None else label_scarce(p, labels)
        p = dataclasses.replace(p, teacher_fn=online_teacher(spec.case))
        records = {r["method"]: r for r in results["records"] if _of(r, context)}
        out.append(Finished(p, records, context))
    if not out:
        raise SystemExit(f"{path}: no task {task!r} in it")
    return out


def _of(record: dict[str, Any], context: dict[str, Any]) -> bool:
    """Whether a record is of the task (and label count) ``context`` describes."""
    if record["task"] != context["task"]:
        return False
    regime = record.get("regime", "full-labels")
    return regime == context["regime"] and (
        regime == "full-labels" or record["labels"] == context["labels"]
    )


def with_width(p: Prepared, width: int) -> Prepared:
    """``p`` with its student at another width (the same architecture and depth)."""
    student = dataclasses.replace(p.task.student, width=width)
    return dataclasses.replace(p, task=dataclasses.replace(p.task, student=student))


@dataclasses.dataclass(frozen=True)
class FollowUp:
    """The JSON a follow-up benchmark writes beside the finished run it reads: the runs so far
    (a stopped benchmark resumes from them), its protocol (its docstring's) and the time spent."""

    out: Path
    source: str
    protocol: str
    runs: list[dict]
    started: float

    @classmethod
    def beside(cls, results: Path, suffix: str, doc: str) -> FollowUp:
        out = results.with_name(f"{results.stem}_{suffix}.json")
        previous = json.loads(out.read_text(encoding="utf-8")) if out.is_file() else {}
        protocol = doc.split("Protocol: ")[1].split("\n\n")[0].replace("\n", " ")
        started = time.perf_counter() - previous.get("seconds", 0.0)
        return cls(out, results.name, protocol, previous.get("runs", []), started)

    def write(self, runs: list[dict], **parts: Any) -> None:
        seconds = round(time.perf_counter() - self.started, 1)
        record = {"from": self.source, "protocol": self.protocol, **parts, "runs": runs}
        atomic_write_json(self.out, {**record, "seconds": seconds})
