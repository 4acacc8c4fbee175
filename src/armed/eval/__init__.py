"""Evaluation: registered tasks (YAML), metrics shared with the rewards, the harness and the reports.

>>> from armed.eval import evaluate, render_report
>>> evaluate("smollm2-135m-instruct", "mmlu-med-open", limit=20, out_dir="runs/eval/base")  # doctest: +SKIP
>>> render_report(["runs/eval/base", "runs/eval/grpo"], out_dir="runs/report")  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any


def evaluate(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """See :func:`armed.eval.harness.evaluate` (imported lazily: ``import armed.eval`` stays cheap)."""
    from armed.eval.harness import evaluate as _evaluate

    return _evaluate(*args, **kwargs)


def render_report(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """See :func:`armed.eval.report.render_report`."""
    from armed.eval.report import render_report as _render

    return _render(*args, **kwargs)


__all__ = ["evaluate", "render_report"]
