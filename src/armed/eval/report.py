"""Reports rendered from run dirs alone: Markdown and a self-contained HTML page.

>>> render_report(["runs/demo/base", "runs/demo/sft", "runs/demo/grpo"], out_dir="runs/demo/report")  # doctest: +SKIP

What a run dir may hold (each part optional; see docs/evaluation.md):

* ``results.json`` / ``samples.jsonl`` — from :func:`armed.eval.evaluate` (also found in an ``eval/`` subfolder);
* ``trainer_state.json`` — TRL's ``log_history``, in the dir, a stage subfolder, or ``checkpoint-N/`` (the
  highest step wins per folder);
* ``run.json`` — ``{"label": "GRPO", ...}``: the run's name in the report (default: results label, dir name).

Sections: runs, comparison tables per benchmark / answer type / group (Δ against the first run), per question
type, training curves (reward per component, KL, completion length, fraction of zero-std groups), a
reward-collapse panel (raw embedding cosine vs the ``armed`` score on the same answers, and the within-group
std the collapse monitor and the adaptive reward logged), and answers side by side. Plots are drawn with
matplotlib's Agg backend and inlined as base64 PNG, so the HTML is one file with no external resource.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from armed.eval.harness import RESULTS_FILE, SAMPLES_FILE, _read_samples

TRAINER_STATE = "trainer_state.json"
RUN_META = "run.json"
CURVE_KEYS = (  # (title, log_history keys or key patterns)
    ("reward (total)", ("reward",)),
    ("reward per component", (r"^rewards/.+/mean$",)),
    ("KL to reference", ("kl",)),
    ("completion length (tokens)", ("completions/mean_length",)),
    ("fraction of zero-std groups", ("frac_reward_zero_std",)),
    ("loss", ("loss",)),
)
MAX_SAMPLES = 12


@dataclass
class Run:
    """One run dir as the report sees it."""

    path: Path
    label: str
    results: dict[str, Any] | None = None
    samples: list[dict] = field(default_factory=list)
    logs: dict[str, list[dict]] = field(default_factory=dict)  # stage name → TRL log_history


def _find_results(path: Path) -> Path | None:
    for candidate in (path / RESULTS_FILE, path / "eval" / RESULTS_FILE):
        if candidate.exists():
            return candidate
    return None


def _find_trainer_states(path: Path) -> dict[str, Path]:
    """Stage name → the latest trainer_state.json under ``path`` (depth ≤ 3)."""
    best: dict[str, tuple[int, Path]] = {}
    for depth in ("", "*/", "*/*/", "*/*/*/"):
        for f in path.glob(f"{depth}{TRAINER_STATE}"):
            folder = f.parent
            stage_dir = folder.parent if re.fullmatch(r"checkpoint-\d+", folder.name) else folder
            stage = "train" if stage_dir == path else stage_dir.relative_to(path).as_posix()
            try:
                step = int(json.loads(f.read_text()).get("global_step") or 0)
            except (ValueError, OSError):
                continue
            if stage not in best or step > best[stage][0]:
                best[stage] = (step, f)
    return {k: v[1] for k, v in sorted(best.items())}


def load_run(path: str | os.PathLike[str], label: str | None = None) -> Run:
    """Read a run dir; raises FileNotFoundError when it holds neither eval results nor trainer logs."""
    p = Path(path)
    if not p.is_dir():
        raise FileNotFoundError(f"run dir {p} does not exist")
    meta = json.loads((p / RUN_META).read_text()) if (p / RUN_META).exists() else {}
    res_path = _find_results(p)
    results = json.loads(res_path.read_text()) if res_path else None
    samples = _read_samples(res_path.parent / SAMPLES_FILE) if res_path else []
    logs = {stage: json.loads(f.read_text()).get("log_history", []) for stage, f in _find_trainer_states(p).items()}
    if results is None and not logs:
        raise FileNotFoundError(f"{p} holds no {RESULTS_FILE} (armed eval) and no {TRAINER_STATE} (training)")
    name = label or meta.get("label") or (results or {}).get("label") or p.name
    return Run(p, str(name), results, samples, logs)


# --------------------------------------------------------------------------------------------- tables


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}"


def _mean(stat: Any) -> float | None:
    return stat.get("mean") if isinstance(stat, dict) else None


@dataclass
class Table:
    title: str
    header: list[str]
    rows: list[list[str]]
    note: str = ""
    best_cols: list[int] = field(default_factory=list)  # per row: which column holds the best value


def _compare_rows(keyed: list[tuple[list[str], list[float | None]]], n_key: int) -> tuple[list[list[str]], list]:
    rows, best = [], []
    for key, values in keyed:
        cells = list(key) + [_pct(v) for v in values]
        present = [v for v in values if v is not None]
        if len(values) > 1 and values[0] is not None and values[-1] is not None:
            delta = 100 * (values[-1] - values[0])
            cells.append(f"{delta:+.1f}")
        elif len(values) > 1:
            cells.append("–")
        top = max(present) if present else None
        unique_top = len(present) > 1 and sum(v == top for v in present) == 1
        best.append(n_key + values.index(top) if unique_top else -1)
        rows.append(cells)
    return rows, best


def comparison_tables(runs: list[Run]) -> list[Table]:
    """One table per task (rows: answer type × metric) and one for groups; columns: runs, Δ last − first."""
    evals = [r for r in runs if r.results]
    if not evals:
        return []
    labels = [r.label for r in evals]
    delta = [f"Δ {labels[-1]} − {labels[0]}"] if len(evals) > 1 else []
    tables = []
    task_names = list(dict.fromkeys(t for r in evals for t in r.results["tasks"]))
    for task in task_names:
        keyed = []
        kinds = list(dict.fromkeys(k for r in evals for k in r.results["tasks"].get(task, {}).get("metrics", {})))
        for kind in kinds:
            metrics = list(dict.fromkeys(m for r in evals
                                         for m in r.results["tasks"].get(task, {}).get("metrics", {}).get(kind, {})))
            for m in metrics:
                vals = [_mean(r.results["tasks"].get(task, {}).get("metrics", {}).get(kind, {}).get(m)) for r in evals]
                keyed.append(([kind, m], vals))
        extra = [(["all", "format (strict tags)"], [r.results["tasks"].get(task, {}).get("format_rate") for r in evals])]
        rows, best = _compare_rows(keyed + extra, 2)
        counts = " · ".join(f"{r.label}: n={r.results['tasks'][task]['n']}" for r in evals if task in r.results["tasks"])
        tables.append(Table(f"{task}", ["answer type", "metric", *labels, *delta], rows, counts, best))
    # a group with one task only repeats that task's numbers
    group_names = list(dict.fromkeys(g for r in evals for g, gr in r.results.get("groups", {}).items()
                                     if len(gr.get("tasks", [])) > 1))
    keyed = []
    for g in group_names:
        kinds = list(dict.fromkeys(k for r in evals for k in r.results["groups"].get(g, {}).get("metrics", {})))
        for kind in kinds:
            metrics = list(dict.fromkeys(m for r in evals
                                         for m in r.results["groups"].get(g, {}).get("metrics", {}).get(kind, {})))
            for m in metrics:
                vals = [_mean(r.results["groups"].get(g, {}).get("metrics", {}).get(kind, {}).get(m)) for r in evals]
                keyed.append(([g, kind, m], vals))
    if keyed:
        rows, best = _compare_rows(keyed, 3)
        tables.append(Table("groups (macro average over tasks)", ["group", "answer type", "metric", *labels, *delta],
                            rows, "in-domain / out-of-domain as configured in the tasks or by evaluate(groups=…)",
                            best))
    return tables


def qtype_tables(runs: list[Run]) -> list[Table]:
    """Per task: each question type's first metric (the task's headline for that type), across runs."""
    evals = [r for r in runs if r.results]
    tables = []
    task_names = list(dict.fromkeys(t for r in evals for t in r.results["tasks"]))
    for task in task_names:
        keyed = []
        for breakdown in ("by_qtype", "by_modality"):
            keys = list(dict.fromkeys(q for r in evals for q in r.results["tasks"].get(task, {}).get(breakdown, {})))
            for q in keys:
                metric = _headline_metric(evals, task, breakdown, q)
                if metric is None:
                    continue
                vals = [_mean(r.results["tasks"].get(task, {}).get(breakdown, {}).get(q, {}).get("metrics", {})
                              .get(metric)) for r in evals]
                n = max(r.results["tasks"].get(task, {}).get(breakdown, {}).get(q, {}).get("n", 0) for r in evals)
                keyed.append(([breakdown[3:], q, str(n), metric], vals))
        if keyed:
            rows, best = _compare_rows(keyed, 4)
            delta = [f"Δ {evals[-1].label} − {evals[0].label}"] if len(evals) > 1 else []
            tables.append(Table(f"{task}: per question type and modality",
                                ["by", "value", "n", "metric", *[r.label for r in evals], *delta], rows, "", best))
    return tables


_HEADLINE_ORDER = ("closed_accuracy", "token_recall", "armed", "f1", "exact_match", "bleu1", "rouge1", "rougeL",
                   "bertscore", "embedding_cosine")


def _headline_metric(evals: list[Run], task: str, breakdown: str, key: str) -> str | None:
    names: set[str] = set()
    for r in evals:
        names |= set(r.results["tasks"].get(task, {}).get(breakdown, {}).get(key, {}).get("metrics", {}))
    for m in _HEADLINE_ORDER:
        if m in names:
            return m
    return sorted(names)[0] if names else None


def runs_table(runs: list[Run]) -> Table:
    rows = []
    for r in runs:
        cfg = (r.results or {}).get("config", {})
        git = (r.results or {}).get("git", {}) or {}
        commit = (git.get("commit") or "")[:10] + ("+dirty" if git.get("dirty") else "")
        steps = ", ".join(f"{s}: {len([e for e in h if 'loss' in e])} logs" for s, h in r.logs.items())
        rows.append([r.label, str(cfg.get("model", "–")), ", ".join(cfg.get("tasks", [])) or "–",
                     str(cfg.get("seed", "–")), str(cfg.get("dtype", "–")), str(cfg.get("max_new_tokens", "–")),
                     commit or "–", steps or "–"])
    return Table("", ["run", "model", "tasks", "seed", "dtype", "max new tokens", "git", "training logs"], rows)


# --------------------------------------------------------------------------------------------- plots


def _figure_png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return buf.getvalue()


def _series(history: list[dict], key: str) -> tuple[list[float], list[float]]:
    xs, ys = [], []
    for entry in history:
        v = entry.get(key)
        if isinstance(v, (int, float)) and not (isinstance(v, float) and math.isnan(v)) and "step" in entry:
            xs.append(entry["step"])
            ys.append(float(v))
    return xs, ys


def _keys_matching(histories: list[list[dict]], patterns: tuple[str, ...]) -> list[str]:
    keys = list(dict.fromkeys(k for h in histories for e in h for k in e))
    out = []
    for p in patterns:
        out += [k for k in keys if (k == p if not p.startswith("^") else re.match(p, k)) and k not in out]
    return out


def training_curves_png(runs: list[Run]) -> bytes | None:
    """Small multiples of the TRL logs of every run's stages (one line per run/stage[/component])."""
    curves = [(f"{r.label}/{stage}" if len(r.logs) > 1 or stage != "train" else r.label, h)
              for r in runs for stage, h in r.logs.items()]
    curves = [(name, h) for name, h in curves if any("step" in e for e in h)]
    if not curves:
        return None
    panels = [(title, _keys_matching([h for _, h in curves], pats)) for title, pats in CURVE_KEYS]
    panels = [(t, ks) for t, ks in panels if ks]
    if not panels:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = min(3, len(panels))
    rows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.2 * rows), squeeze=False)
    for ax, (title, keys) in zip(axes.flat, panels, strict=False):
        for name, h in curves:
            for k in keys:
                xs, ys = _series(h, k)
                if xs:
                    comp = k.split("/")[1] if k.startswith("rewards/") else ""
                    ax.plot(xs, ys, marker="o", ms=2.5, lw=1.4, label=f"{name} {comp}".strip())
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=6.5, frameon=False)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    fig.tight_layout()
    return _figure_png(fig)


def _correct(row: dict) -> bool | None:
    s = row.get("scores", {})
    for key in ("exact_match", "closed_accuracy"):
        if s.get(key) is not None:
            return s[key] >= 1.0
    return None


def collapse_stats(runs: list[Run], raw: str = "embedding_cosine", adapted: str = "armed") -> list[dict]:
    """Per run: mean score of correct vs wrong answers and the spread of raw cosine vs the ``armed`` score."""
    out = []
    for r in runs:
        rows = [x for x in r.samples if x.get("scores", {}).get(raw) is not None
                and x["scores"].get(adapted) is not None and _correct(x) is not None]
        if not rows:
            continue
        stat = {"run": r.label, "n": len(rows)}
        for name in (raw, adapted):
            good = [x["scores"][name] for x in rows if _correct(x)]
            bad = [x["scores"][name] for x in rows if not _correct(x)]
            vals = good + bad
            m = sum(vals) / len(vals)
            stat[name] = {"std": math.sqrt(sum((v - m) ** 2 for v in vals) / len(vals)),
                          "mean_correct": sum(good) / len(good) if good else None,
                          "mean_wrong": sum(bad) / len(bad) if bad else None,
                          "auc": _auc(good, bad)}
        out.append(stat)
    return out


def _auc(pos: list[float], neg: list[float]) -> float | None:
    """P(score of a correct answer > score of a wrong one), ties half (Mann–Whitney)."""
    if not pos or not neg:
        return None
    wins = sum((p > q) + 0.5 * (p == q) for p in pos for q in neg)
    return wins / (len(pos) * len(neg))


def collapse_png(runs: list[Run], raw: str = "embedding_cosine", adapted: str = "armed") -> bytes | None:
    """Histograms of raw cosine and the ``armed`` score for correct vs wrong answers, plus logged group stds."""
    with_scores = [r for r in runs if any(x.get("scores", {}).get(raw) is not None
                                          and x["scores"].get(adapted) is not None and _correct(x) is not None
                                          for x in r.samples)]
    std_keys = _keys_matching([h for r in runs for h in r.logs.values()],
                              (r"^collapse/.+/group_std$", r"^adaptive_semantic/(raw|adapted)_std$"))
    if not with_scores and not std_keys:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n_panels = 2 * len(with_scores) + (1 if std_keys else 0)
    cols = min(4, n_panels)
    rows = math.ceil(n_panels / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.8 * cols, 3.0 * rows), squeeze=False)
    flat = list(axes.flat)
    i = 0
    bins = [b / 20 for b in range(21)]
    for r in with_scores:
        rows_ = [x for x in r.samples if x.get("scores", {}).get(raw) is not None
                 and x["scores"].get(adapted) is not None and _correct(x) is not None]
        for name in (raw, adapted):
            ax = flat[i]
            i += 1
            good = [x["scores"][name] for x in rows_ if _correct(x)]
            bad = [x["scores"][name] for x in rows_ if not _correct(x)]
            ax.hist(bad, bins=bins, alpha=0.6, color="#d62728", label=f"wrong ({len(bad)})")
            ax.hist(good, bins=bins, alpha=0.6, color="#2ca02c", label=f"correct ({len(good)})")
            ax.set_title(f"{r.label}: {name}", fontsize=9)
            ax.set_xlim(0, 1)
            ax.tick_params(labelsize=7)
            ax.legend(fontsize=7, frameon=False)
    if std_keys:
        ax = flat[i]
        i += 1
        for r in runs:
            for stage, h in r.logs.items():
                for k in std_keys:
                    xs, ys = _series(h, k)
                    if xs:
                        ax.plot(xs, ys, lw=1.3, label=f"{r.label}/{stage} {k}")
        ax.set_title("within-group std during training", fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=6, frameon=False)
    for ax in flat[i:]:
        ax.axis("off")
    fig.tight_layout()
    return _figure_png(fig)


# --------------------------------------------------------------------------------------------- samples


def side_by_side(runs: list[Run], limit: int = MAX_SAMPLES) -> tuple[list[str], list[dict]]:
    """Samples every eval run answered, open-ended first, where the runs' scores differ most."""
    evals = [r for r in runs if r.samples]
    if not evals:
        return [], []
    index = [{(x["task"], x["id"]): x for x in r.samples} for r in evals]
    common = [k for k in index[0] if all(k in ix for ix in index[1:])]

    def spread(key: tuple[str, str]) -> tuple[int, float]:
        head = [_row_score(ix[key]) for ix in index]
        vals = [v for v in head if v is not None]
        return (index[0][key].get("answer_type") == "open", (max(vals) - min(vals)) if vals else 0.0)

    chosen = sorted(common, key=spread, reverse=True)[:limit]
    items = []
    for key in chosen:
        first = index[0][key]
        items.append({
            "task": key[0], "id": key[1], "question": _question_text(first), "reference": first.get("reference"),
            "images": first.get("images") or [],
            "answers": [{"run": r.label, "extracted": ix[key].get("extracted"), "completion": ix[key].get("completion"),
                         "score": _row_score(ix[key])} for r, ix in zip(evals, index, strict=True)],
        })
    return [r.label for r in evals], items


def _row_score(row: dict) -> float | None:
    s = row.get("scores", {})
    for m in _HEADLINE_ORDER:
        if s.get(m) is not None:
            return s[m]
    return None


def _question_text(row: dict) -> str:
    for msg in row.get("prompt") or []:
        if msg.get("role") == "user":
            c = msg.get("content")
            if isinstance(c, list):
                return " ".join(p.get("text", "") for p in c if isinstance(p, dict) and p.get("type") == "text")
            return str(c)
    return ""


def _thumbnail_b64(path: str, size: int = 112) -> str | None:
    try:
        from PIL import Image

        with Image.open(path) as im:
            im = im.convert("RGB")
            im.thumbnail((size, size))
            buf = io.BytesIO()
            im.save(buf, format="PNG")
        return base64.b64encode(buf.getvalue()).decode()
    except (OSError, ValueError):
        return None


# --------------------------------------------------------------------------------------------- rendering

CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
header{background:#17324d;color:#fff;padding:22px 36px}header h1{margin:0;font-size:24px}
header p{margin:6px 0 0;opacity:.8;font-size:13px}main{padding:10px 36px 40px;max-width:1400px}
section{background:#fff;border-radius:8px;box-shadow:0 1px 3px rgba(0,0,0,.08);padding:16px 22px;margin:18px 0}
h2{font-size:18px;margin:4px 0 12px;color:#17324d}h3{font-size:15px;margin:16px 0 6px}
table{border-collapse:collapse;font-size:13px;margin:6px 0 4px}th,td{padding:5px 10px;border-bottom:1px solid #e3e6ea;
text-align:left;vertical-align:top}th{background:#eef1f5;font-weight:600}td.num{text-align:right;font-variant-numeric:tabular-nums}
td.best{font-weight:700;color:#0b6e2e}td.pos{color:#0b6e2e}td.neg{color:#b3261e}.note{font-size:12px;color:#5b6575}
img.plot{max-width:100%;border:1px solid #e3e6ea;border-radius:4px}img.thumb{border-radius:4px;margin-right:4px}
.answer{font-family:ui-monospace,Menlo,monospace;font-size:12px;white-space:pre-wrap;max-width:420px}
details summary{cursor:pointer;color:#5b6575;font-size:12px}
"""


def _is_number(cell: str) -> bool:
    return bool(re.fullmatch(r"[+-]?\d+(\.\d+)?", cell))


def _table_html(t: Table) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in t.header)
    body = []
    for ri, row in enumerate(t.rows):
        cells = []
        for ci, cell in enumerate(row):
            cls = []
            if _is_number(cell):
                cls.append("num")
            if t.best_cols and ci == t.best_cols[ri]:
                cls.append("best")
            if t.header[ci].startswith("Δ") and _is_number(cell):
                cls.append("pos" if float(cell) > 0 else "neg" if float(cell) < 0 else "")
            attr = f' class="{" ".join(c for c in cls if c)}"' if any(cls) else ""
            cells.append(f"<td{attr}>{html.escape(cell)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    note = f'<p class="note">{html.escape(t.note)}</p>' if t.note else ""
    title = f"<h3>{html.escape(t.title)}</h3>" if t.title else ""
    return (f'{title}<table class="metrics"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table>{note}")


def _table_md(t: Table) -> str:
    def esc(c: str) -> str:
        return c.replace("|", "\\|").replace("\n", " ")

    lines = ([f"### {t.title}", ""] if t.title else []) + ["| " + " | ".join(esc(h) for h in t.header) + " |",
             "|" + "|".join("---:" if i >= 2 else "---" for i in range(len(t.header))) + "|"]
    for ri, row in enumerate(t.rows):
        cells = [f"**{esc(c)}**" if t.best_cols and ci == t.best_cols[ri] else esc(c) for ci, c in enumerate(row)]
        lines.append("| " + " | ".join(cells) + " |")
    if t.note:
        lines += ["", f"_{t.note}_"]
    return "\n".join(lines) + "\n"


def _collapse_table(stats: list[dict], raw: str = "embedding_cosine", adapted: str = "armed") -> Table:
    rows = []
    for s in stats:
        for name in (raw, adapted):
            d = s[name]
            rows.append([s["run"], name, str(s["n"]), f"{d['std']:.3f}", _f3(d["mean_correct"]),
                         _f3(d["mean_wrong"]), _f3(d["auc"])])
    return Table("score spread on the same answers", ["run", "score", "n", "std", "mean (correct)",
                                                      "mean (wrong)", "AUC correct > wrong"], rows,
                 "correct = exact match (open) or closed accuracy; a collapsed score gives wrong answers nearly "
                 "the same value as correct ones (AUC near 0.5, small gap)")


def _f3(x: float | None) -> str:
    return "–" if x is None else f"{x:.3f}"


def render_report(run_dirs: list[str | os.PathLike[str]], out_dir: str | os.PathLike[str], *,
                  labels: list[str] | None = None, title: str = "armed report") -> dict[str, Any]:
    """Write ``report.md`` (+ ``plots/*.png``) and a self-contained ``report.html`` for ``run_dirs``.

    Returns ``{"html": path, "markdown": path, "runs": [labels], "sections": [...]}``.
    """
    if not run_dirs:
        raise ValueError("give at least one run dir")
    if labels is not None and len(labels) != len(run_dirs):
        raise ValueError(f"{len(labels)} labels for {len(run_dirs)} run dirs")
    runs = [load_run(p, labels[i] if labels else None) for i, p in enumerate(run_dirs)]
    out = Path(out_dir)
    (out / "plots").mkdir(parents=True, exist_ok=True)
    created = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")

    sections: list[tuple[str, str, str]] = []  # (id/title, html, markdown)
    rt = runs_table(runs)
    sections.append(("Runs", _table_html(rt), _table_md(rt)))
    comp = comparison_tables(runs)
    if comp:
        sections.append(("Results (×100)", "".join(_table_html(t) for t in comp),
                         "\n".join(_table_md(t) for t in comp)))
    qt = qtype_tables(runs)
    if qt:
        sections.append(("Per question type (×100)", "".join(_table_html(t) for t in qt),
                         "\n".join(_table_md(t) for t in qt)))
    for name, png, caption in (
        ("Training curves", training_curves_png(runs),
         "TRL log_history: total reward, each reward component's mean, KL, completion length, fraction of "
         "groups with zero reward std, loss."),
        ("Reward collapse", collapse_png(runs),
         "Raw embedding cosine vs the armed score on the same evaluated answers (correct in green, wrong in "
         "red), and the within-group std the collapse monitor and the adaptive reward logged during GRPO."),
    ):
        if png is None:
            continue
        slug = name.lower().replace(" ", "-")
        (out / "plots" / f"{slug}.png").write_bytes(png)
        b64 = base64.b64encode(png).decode()
        h = f'<p class="note">{html.escape(caption)}</p><img class="plot" alt="{slug}" src="data:image/png;base64,{b64}">'
        md = f"_{caption}_\n\n![{name}](plots/{slug}.png)\n"
        if name == "Reward collapse":
            stats = collapse_stats(runs)
            if stats:
                ct = _collapse_table(stats)
                h += _table_html(ct)
                md += "\n" + _table_md(ct)
        sections.append((name, h, md))
    labels_sbs, items = side_by_side(runs)
    if items:
        sections.append(("Answers side by side", _samples_html(labels_sbs, items), _samples_md(labels_sbs, items)))

    nav = " · ".join(html.escape(s[0]) for s in sections)
    body = "".join(f'<section id="{re.sub(r"[^a-z0-9]+", "-", s[0].lower()).strip("-")}"><h2>{html.escape(s[0])}'
                   f"</h2>{s[1]}</section>" for s in sections)
    page = (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{CSS}</style></head><body><header><h1>{html.escape(title)}</h1><p>{html.escape(created)} · "
            f"{len(runs)} run(s): {html.escape(', '.join(r.label for r in runs))}</p><p>{nav}</p></header>"
            f"<main>{body}</main></body></html>\n")
    md = f"# {title}\n\n{created} · runs: {', '.join(r.label for r in runs)}\n\n" + "\n".join(
        f"## {s[0]}\n\n{s[2]}" for s in sections)
    (out / "report.html").write_text(page, encoding="utf-8")
    (out / "report.md").write_text(md, encoding="utf-8")
    return {"html": str(out / "report.html"), "markdown": str(out / "report.md"), "runs": [r.label for r in runs],
            "sections": [s[0] for s in sections]}


def _samples_html(labels: list[str], items: list[dict]) -> str:
    head = "<th>question</th><th>reference</th>" + "".join(f"<th>{html.escape(lb)}</th>" for lb in labels)
    rows = []
    for it in items:
        thumbs = "".join(f'<img class="thumb" alt="image" src="data:image/png;base64,{b}">'
                         for b in (_thumbnail_b64(p) for p in it["images"][:2]) if b)
        cells = [f"<td>{thumbs}<div><b>{html.escape(it['task'])}</b> · {html.escape(it['id'])}</div>"
                 f"<div>{html.escape(it['question'])}</div></td>", f"<td>{html.escape(str(it['reference']))}</td>"]
        for a in it["answers"]:
            score = "" if a["score"] is None else f" <span class='note'>({100 * a['score']:.0f})</span>"
            cells.append(f"<td><div class='answer'>{html.escape(str(a['extracted']))}{score}</div><details>"
                         f"<summary>completion</summary><div class='answer'>{html.escape(a['completion'] or '')}</div>"
                         f"</details></td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f'<table class="samples"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _samples_md(labels: list[str], items: list[dict]) -> str:
    def esc(c: Any) -> str:
        return str(c).replace("|", "\\|").replace("\n", " ")[:300]

    lines = ["| question | reference | " + " | ".join(esc(lb) for lb in labels) + " |",
             "|---|---|" + "---|" * len(labels)]
    for it in items:
        answers = [f"{esc(a['extracted'])}" + ("" if a["score"] is None else f" ({100 * a['score']:.0f})")
                   for a in it["answers"]]
        lines.append(f"| {esc(it['task'])} · {esc(it['question'])} | {esc(it['reference'])} | " + " | ".join(answers)
                     + " |")
    return "\n".join(lines) + "\n"


def results_table(results: dict[str, Any]) -> Table:
    """One run's ``results.json`` as a table: task × answer type × metric, mean ± standard error (×100)."""
    rows = []
    for task, tr in results.get("tasks", {}).items():
        for kind, table in tr.get("metrics", {}).items():
            for metric, stat in table.items():
                rows.append([task, kind, metric, _pct(stat["mean"]), f"{100 * stat['stderr']:.1f}", str(stat["n"])])
        rows.append([task, "all", "format (strict tags)", _pct(tr.get("format_rate")), "", str(tr.get("n", 0))])
    for group, gr in results.get("groups", {}).items():
        if len(gr.get("tasks", [])) < 2:  # a one-task group repeats that task's numbers
            continue
        for kind, table in gr.get("metrics", {}).items():
            for metric, stat in table.items():
                rows.append([f"group {group}", kind, metric, _pct(stat["mean"]), "", f"{stat['tasks']} tasks"])
    return Table(results.get("label", "results"), ["task", "answer type", "metric", "score", "± se", "n"], rows)


def to_rich(table: Table) -> Any:
    """A :class:`Table` as a ``rich.table.Table`` for the terminal (best value bold green)."""
    from rich.table import Table as RichTable

    out = RichTable(title=table.title or None, title_justify="left", header_style="bold")
    for i, h in enumerate(table.header):
        numeric = any(_is_number(r[i]) for r in table.rows if i < len(r))
        out.add_column(h, justify="right" if numeric else "left")
    for ri, row in enumerate(table.rows):
        cells = [f"[bold green]{c}[/]" if table.best_cols and ci == table.best_cols[ri] else c
                 for ci, c in enumerate(row)]
        out.add_row(*cells)
    return out


def write_run_meta(run_dir: str | os.PathLike[str], label: str, **info: Any) -> Path:
    """Write ``run.json`` (``{"label": ..., **info}``): how a run dir is named in reports (e.g. stage, seed)."""
    path = Path(run_dir) / RUN_META
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"label": label, **info}, indent=2, default=str) + "\n")
    return path


def metric_mean(results: dict[str, Any], task: str, answer_type: str, metric: str) -> float | None:
    """``results["tasks"][task]["metrics"][answer_type][metric]["mean"]``, or None where absent.

    ``answer_type="overall"`` reads the mean over all rows the metric applies to.
    """
    t = results.get("tasks", {}).get(task, {})
    table = t.get("overall", {}) if answer_type == "overall" else t.get("metrics", {}).get(answer_type, {})
    return _mean(table.get(metric))
