"""Reward audit: does a reward rank graded answers the way a clinician would, *within* a GRPO group?

Input: JSONL rows ``{"group", "question", "reference", "candidate", "label"}`` with ``label`` in [0, 1]
(1 correct, 0.5 partial, 0 wrong). Each group is scored as one GRPO group — the reward is called **once per
group**, with the group's candidates as ``completions`` and the reference as the ``answer`` column
(``answer_type="open"``, ``question`` passed too) — so group-relative and adaptive rewards see it as in
training. Groups are fed in file order; stateful rewards (the adaptive scaler) are rebuilt fresh for each
audit run and warm up on the groups as they come (the first groups see raw cosines until the scaler's
``min_history`` is reached).

Metrics per reward (a reward that abstains, None, scores 0 here):

=====================  ===============================================================================
``spearman``           mean over groups of Spearman's ρ(score, label); a group whose scores are all equal
                       (reward collapse) counts ρ = 0; groups with a single label value are skipped
``pairwise_accuracy``  within groups, over pairs with different labels: fraction ordered like the labels
                       (ties in score count half)
``auc``                P(score(correct) > score(wrong)) over all label-1 vs label-0 answers (ties half)
``within_group_std``   mean over groups of the population std of the scores (GRPO's advantage signal)
``gap``                mean score of label-1 answers − mean score of label-0 answers
=====================  ===============================================================================
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

METRIC_KEYS = ("spearman", "pairwise_accuracy", "auc", "within_group_std", "gap")
DEFAULT_GROUPS = "medical_audit.jsonl"
HELDOUT_GROUPS = "heldout.jsonl"


def default_audit_path(name: str = DEFAULT_GROUPS) -> Path:
    """Path of an audit set shipped in ``armed/data/audit``."""
    return Path(str(resources.files("armed.data").joinpath("audit", name)))


@dataclass
class Group:
    name: str
    question: str
    reference: str
    candidates: list[str] = field(default_factory=list)
    labels: list[float] = field(default_factory=list)


def load_groups(path: str | Path) -> list[Group]:
    """Read an audit JSONL into groups, in order of first appearance; malformed rows raise ValueError."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"audit file not found: {path}")
    groups: dict[str, Group] = {}
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                name, label = str(row["group"]), float(row["label"])
                cand, ref = row["candidate"], row["reference"]
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{path}:{lineno}: bad audit row ({exc}); need group, reference, candidate, label"
                                 ) from exc
            if not 0.0 <= label <= 1.0:
                raise ValueError(f"{path}:{lineno}: label must be in [0, 1], got {label}")
            g = groups.setdefault(name, Group(name, str(row.get("question", "")), str(ref)))
            if str(ref) != g.reference:
                raise ValueError(f"{path}:{lineno}: group {name!r} has two references")
            g.candidates.append(str(cand))
            g.labels.append(label)
    if not groups:
        raise ValueError(f"{path}: no audit rows")
    return list(groups.values())


def score_groups(reward: Callable[..., Sequence[float | None]], groups: Sequence[Group]) -> list[list[float]]:
    """Call ``reward`` once per group (a GRPO group) and return the scores (None → 0.0)."""
    out = []
    for g in groups:
        k = len(g.candidates)
        scores = reward(
            prompts=[g.question] * k, completions=list(g.candidates), answer=[g.reference] * k,
            aliases=[[] for _ in range(k)], answer_type=["open"] * k, question=[g.question] * k,
            options=[""] * k, answer_letter=[""] * k, id=[f"{g.name}/{i}" for i in range(k)],
        )
        out.append([0.0 if s is None else float(s) for s in scores])
    return out


# ------------------------------------------------------------------------------------------------- metrics


def _ranks(x: Sequence[float]) -> np.ndarray:
    """Average ranks (ties share the mean rank)."""
    a = np.asarray(x, float)
    order = np.argsort(a, kind="mergesort")
    ranks = np.empty(len(a))
    i = 0
    while i < len(a):
        j = i
        while j + 1 < len(a) and a[order[j + 1]] == a[order[i]]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2.0
        i = j + 1
    return ranks


def spearman(scores: Sequence[float], labels: Sequence[float]) -> float | None:
    """Spearman's ρ with average ranks; 0.0 for constant scores, None for constant labels."""
    if len(set(labels)) < 2:
        return None
    if len(set(scores)) < 2:
        return 0.0
    rs, rl = _ranks(scores), _ranks(labels)
    return float(np.corrcoef(rs, rl)[0, 1])


def pairwise(scores: Sequence[float], labels: Sequence[float]) -> tuple[float, int]:
    """(correctly ordered pairs, ties counted half; number of pairs with different labels)."""
    good, total = 0.0, 0
    for i in range(len(scores)):
        for j in range(i + 1, len(scores)):
            if labels[i] == labels[j]:
                continue
            total += 1
            hi, lo = (i, j) if labels[i] > labels[j] else (j, i)
            good += 1.0 if scores[hi] > scores[lo] else 0.5 if scores[hi] == scores[lo] else 0.0
    return good, total


def auc(pos: Sequence[float], neg: Sequence[float]) -> float | None:
    """P(pos > neg) + ½ P(pos = neg) (Mann–Whitney); None without both classes."""
    if not len(pos) or not len(neg):
        return None
    p, n = np.asarray(pos, float)[:, None], np.asarray(neg, float)[None, :]
    return float(((p > n).sum() + 0.5 * (p == n).sum()) / (p.size * n.size))


def audit_metrics(scores: Sequence[Sequence[float]], labels: Sequence[Sequence[float]]) -> dict[str, float | None]:
    """The five audit metrics (module doc) for per-group scores and labels."""
    rhos = [r for s, lab in zip(scores, labels, strict=True) if (r := spearman(s, lab)) is not None]
    good = total = 0.0
    for s, lab in zip(scores, labels, strict=True):
        g, t = pairwise(s, lab)
        good, total = good + g, total + t
    flat = [(x, y) for s, lab in zip(scores, labels, strict=True) for x, y in zip(s, lab, strict=True)]
    pos = [x for x, y in flat if y == 1.0]
    neg = [x for x, y in flat if y == 0.0]
    return {
        "spearman": float(np.mean(rhos)) if rhos else None,
        "pairwise_accuracy": good / total if total else None,
        "auc": auc(pos, neg),
        "within_group_std": float(np.mean([np.std(s) for s in scores])) if scores else None,
        "gap": float(np.mean(pos) - np.mean(neg)) if pos and neg else None,
    }


# ---------------------------------------------------------------------------------------------------- runs


def fresh_reward(name: str) -> Callable[..., Any]:
    """The registered reward ``name``, deep-copied so a stateful one (adaptive scaler) starts empty."""
    from armed.registry import REWARDS

    reward = copy.deepcopy(REWARDS.get(name))
    scaler = getattr(reward, "scaler", None)
    if scaler is not None and hasattr(scaler, "reset"):
        scaler.reset()
    return reward


@dataclass
class AuditResult:
    groups: list[Group]
    scores: dict[str, list[list[float]]]
    metrics: dict[str, dict[str, float | None]]
    path: str

    def to_json(self) -> dict[str, dict[str, float | None]]:
        """``{reward: {spearman, pairwise_accuracy, auc, within_group_std, gap}}`` (what ``--json`` prints)."""
        return self.metrics

    def report(self) -> dict[str, Any]:
        """Metrics with provenance (file, counts, contradiction-table version, git, packages) and scores."""
        from armed.rewards.medical import contradiction_table_version

        try:
            from armed.eval.harness import git_info, package_versions

            prov = {"git": git_info(), "packages": package_versions()}
        except ImportError:  # provenance helpers live in the eval layer
            prov = {}
        return {
            "config": {"groups_file": self.path, "rewards": list(self.metrics), "n_groups": len(self.groups),
                       "n_pairs": sum(len(g.candidates) for g in self.groups),
                       "contradiction_table": contradiction_table_version(),
                       "feeding": "one reward call per group, file order, fresh reward state per run"},
            **prov,
            "metrics": self.metrics,
            "scores": {k: v for k, v in self.scores.items()},
        }


def run_audit(path: str | Path | None = None, rewards: Sequence[str] = ("armed",),
              progress: Callable[[str, int, int], None] | None = None) -> AuditResult:
    """Score every group with each reward and compute the audit metrics."""
    groups = load_groups(path or default_audit_path())
    labels = [g.labels for g in groups]
    all_scores: dict[str, list[list[float]]] = {}
    metrics: dict[str, dict[str, float | None]] = {}
    for name in rewards:
        reward = fresh_reward(name)
        scores: list[list[float]] = []
        for i, g in enumerate(groups):
            scores += score_groups(reward, [g])
            if progress:
                progress(name, i + 1, len(groups))
        all_scores[name] = scores
        metrics[name] = audit_metrics(scores, labels)
    return AuditResult(groups, all_scores, metrics, str(path or default_audit_path()))


def plot_distributions(result: AuditResult, png: str | Path) -> Path:
    """A PNG with one panel per reward: score histograms of correct / partial / wrong answers."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(result.scores)
    fig, axes = plt.subplots(1, len(names), figsize=(3.6 * len(names), 3.2), squeeze=False, sharey=True)
    labels = [lab for g in result.groups for lab in g.labels]
    bins = np.linspace(0, 1, 21)
    for ax, name in zip(axes[0], names, strict=True):
        flat = [s for grp in result.scores[name] for s in grp]
        for value, colour, text in ((1.0, "tab:green", "correct"), (0.5, "tab:orange", "partial"),
                                    (0.0, "tab:red", "wrong")):
            xs = [s for s, lab in zip(flat, labels, strict=True) if lab == value]
            if xs:
                ax.hist(np.clip(xs, 0, 1), bins=bins, alpha=0.55, color=colour, label=f"{text} ({len(xs)})")
        m = result.metrics[name]
        ax.set_title(f"{name}\npairwise {m['pairwise_accuracy']:.2f}  AUC {m['auc']:.2f}", fontsize=9)
        ax.set_xlabel("reward")
    axes[0][0].set_ylabel("answers")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    png = Path(png)
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=120)
    plt.close(fig)
    return png


def markdown_table(metrics: dict[str, dict[str, float | None]]) -> str:
    """The ``--json`` output as a Markdown table (how docs/audit.md is generated)."""
    head = "| reward | " + " | ".join(METRIC_KEYS) + " |"
    rule = "|---|" + "---:|" * len(METRIC_KEYS)
    rows = [f"| `{name}` | " + " | ".join("–" if m.get(k) is None else f"{m[k]:.3f}" for k in METRIC_KEYS) + " |"
            for name, m in metrics.items()]
    return "\n".join([head, rule, *rows])
