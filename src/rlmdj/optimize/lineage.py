"""Where every candidate goes: a version of ``rlmdj-<prompt>`` in MLflow's Prompt Registry with
its lineage, a row of the candidate table, a point of the validation plot, and (the chosen one)
a new prompt file ``prompts/<name>_opt_<k>.txt``.

A candidate version's template is the prompt text itself (the file the DJ reads), tagged
``rlmdj.optimize.*``: the study (parent run), the candidate's hash, its parent version, the
iteration, the reflection's rationale, the minibatch scores (parent and child) and the decision,
and, once validated, its validation mean and lower bound. The sets played with it register the
full system text (scaffold included) as their own versions, as every run does.
"""

from __future__ import annotations

import csv
import datetime
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlmdj.dj.rlm_inputs import PROVENANCE

__all__ = ["PROVENANCE", "Candidate", "Lineage", "candidate_csv", "plot_validation", "write_prompt_file"]

_TAG_MAX = 4900  # MLflow tag values are capped at 5000 characters


@dataclass
class Candidate:
    """One candidate of the study, as the table and the registry record it."""

    index: int | None  # GEPA's pool index (None: rejected, never in the pool)
    hash: str
    iteration: int
    parent: int | None
    accepted: bool
    reason: str = ""
    rationale: str = ""
    minibatch_parent: float | None = None
    minibatch_child: float | None = None
    val_mean: float | None = None
    val_low: float | None = None
    val_briefs: int = 0
    metric_calls: int = 0
    version: str = ""
    text: str = field(default="", repr=False)


class Lineage:
    """Registers candidates as prompt versions of ``rlmdj-<prompt>`` (tracking on) and keeps them."""

    def __init__(self, run: Any, prompt: str, study: str) -> None:
        self.run, self.prompt, self.study = run, prompt, study
        self.candidates: list[Candidate] = []

    def register(self, c: Candidate) -> Candidate:
        """Add ``c`` (a new version, or the existing one with this text, tagged again)."""
        self.candidates.append(c)
        client = getattr(self.run, "client", None)
        if client is None or self.run.run_id is None:
            return c
        from rlmdj.tracking.prompts import find_version, registry_name

        name = registry_name(self.prompt)
        tags = self._tags(c)
        version = find_version(client, name, c.text)
        if version is None:
            import mlflow

            mlflow.set_experiment(experiment_id=self.run.experiment_id)
            version = client.register_prompt(name, c.text, commit_message=f"optimize_prompt candidate {c.hash} "
                                             f"(iteration {c.iteration}) of study run {self.study}", tags=tags)
        else:
            for k, v in tags.items():
                client.set_prompt_version_tag(name, version.version, k, v)
        c.version = f"{name} v{version.version}"
        return c

    def update(self, c: Candidate) -> None:
        """Tag ``c``'s version with what was learned since (its validation scores)."""
        client = getattr(self.run, "client", None)
        if client is None or not c.version:
            return
        name, _, v = c.version.rpartition(" v")
        for k, value in self._tags(c).items():
            client.set_prompt_version_tag(name, v, k, value)

    def by_index(self, index: int) -> Candidate | None:
        return next((c for c in self.candidates if c.index == index), None)

    def _tags(self, c: Candidate) -> dict[str, str]:
        parent = self.by_index(c.parent) if c.parent is not None else None
        tags = {"rlmdj.optimize.study": self.study, "rlmdj.optimize.candidate": c.hash,
                "rlmdj.optimize.iteration": str(c.iteration),
                "rlmdj.optimize.parent_version": parent.version if parent else "",
                "rlmdj.optimize.accepted": str(c.accepted).lower(),
                "rlmdj.optimize.decision": c.reason[:_TAG_MAX],
                "rlmdj.optimize.rationale": c.rationale[:_TAG_MAX]}
        for key in ("minibatch_parent", "minibatch_child", "val_mean", "val_low"):
            value = getattr(c, key)
            if value is not None:
                tags[f"rlmdj.optimize.{key}"] = f"{value:.4f}"
        return {k: v for k, v in tags.items() if v != ""}


def candidate_csv(candidates: list[Candidate]) -> str:
    """The candidate table: one row per candidate proposed (and the start), in order."""
    out = io.StringIO()
    cols = ["index", "hash", "iteration", "parent", "accepted", "minibatch_parent", "minibatch_child",
            "val_mean", "val_low", "val_briefs", "metric_calls", "version", "reason"]
    w = csv.writer(out)
    w.writerow(cols)
    for c in candidates:
        w.writerow(["" if getattr(c, k) is None else getattr(c, k) for k in cols])
    return out.getvalue()


def plot_validation(points: list[tuple[int, float, float]], path: Path) -> Path | None:
    """Validation mean and lower bound of each validated candidate against the metric calls spent
    when it was validated (``(calls, mean, low)``), with the best lower bound so far as a step."""
    finite = [(x, m, lo) for x, m, lo in points if m == m]
    if not finite:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    xs = [p[0] for p in finite]
    ax.scatter(xs, [p[1] for p in finite], label="validation mean", color="tab:blue")
    lows = [p[2] if p[2] > float("-inf") else float("nan") for p in finite]
    ax.scatter(xs, lows, label="lower bound", color="tab:orange", marker="v")
    best, run = [], float("-inf")
    for lo in lows:
        run = max(run, lo) if lo == lo else run
        best.append(run if run > float("-inf") else float("nan"))
    ax.step(xs, best, where="post", color="tab:orange", alpha=0.6, label="best lower bound")
    ax.set_xlabel("metric calls (sets played)")
    ax.set_ylabel("OBJ")
    ax.legend(loc="best")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_prompt_file(prompts_dir: Path, name: str, text: str, provenance: list[str]) -> Path:
    """``prompts_dir/<name>_opt_<k>.txt`` with the next free ``k`` (never overwriting), holding a
    header of ``provenance`` lines (not sent to the model) and ``text``."""
    prompts_dir.mkdir(parents=True, exist_ok=True)
    taken = [int(m.group(1)) for p in prompts_dir.glob(f"{name}_opt_*.txt")
             if (m := re.fullmatch(rf"{re.escape(name)}_opt_(\d+)", p.stem))]
    k = max(taken, default=0) + 1
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    while True:
        header = [f"{PROVENANCE}: {name}_opt_{k} ({stamp})", *(f"# {line}" for line in provenance),
                  "# (this header, up to the first blank line, is not sent to the model)"]
        path = prompts_dir / f"{name}_opt_{k}.txt"
        try:
            with open(path, "x", encoding="utf-8") as fh:
                fh.write("\n".join(header) + "\n\n" + text)
            return path
        except FileExistsError:
            k += 1
