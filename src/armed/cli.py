"""The one entry point: ``armed train | eval | audit | data | report | export | ls | demo``.

Each command is a thin wrapper: it parses options and calls the library function that does the work, so
everything here is also usable from Python. Errors users can fix (unknown names, bad files) are printed as one
line and exit with code 2; no stack trace.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

import armed  # noqa: F401  (sets OMP_WAIT_POLICY before torch is imported)
from armed.registry import ALL, RegistryError

app = typer.Typer(
    name="armed",
    help="Reinforcement fine-tuning of (vision-)language models for medical reasoning: SFT → GRPO with rewards "
    "that stay discriminative on open-ended medical answers, and the evaluation to measure it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)


class UserError(Exception):
    """An error caused by input the user can fix: shown as one line, exit code 2."""


@app.command("ls")
def ls_command(
    what: Annotated[str, typer.Argument(help=f"What to list: {', '.join(ALL)}, or 'all'.")] = "all",
) -> None:
    """List registered rewards, datasets, metrics, eval tasks, recipes or models with a one-line description."""
    kinds = list(ALL) if what == "all" else [what]
    for kind in kinds:
        if kind not in ALL:
            from armed.registry import did_you_mean

            raise UserError(did_you_mean(kind, [*ALL, "all"], "registry"))
        table = Table(title=kind, show_header=True, header_style="bold", title_justify="left")
        table.add_column("name", style="cyan", no_wrap=True)
        table.add_column("description")
        for entry in ALL[kind].entries():
            table.add_row(entry.name, entry.description)
        console.print(table)


@app.command("models")
def models_command(
    name: Annotated[str, typer.Argument(help="Model name: embedded name, local folder or hub id.")],
) -> None:
    """Resolve a model name to its local folder (converting an embedded model on first use) and print it."""
    from armed.models import resolve

    with console.status(f"resolving {name} ..."):
        path = resolve(name)
    console.print(str(path))


# ---- armed data … (loaders, inspection; other data commands join this sub-app) ----------------------------
data_app = typer.Typer(help="Datasets: inspect benchmark folders and embedded sets, filter by difficulty, "
                       "distil chain-of-thought data.", no_args_is_help=True)
app.add_typer(data_app, name="data")


def _parse_opts(pairs: list[str] | None) -> dict[str, str]:
    out = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UserError(f"--opt expects KEY=VALUE, got {pair!r}")
        out[key.strip()] = value.strip()
    return out


@data_app.command("inspect")
def data_inspect_command(
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="Registered dataset name (armed ls datasets).")],
    path: Annotated[str | None, typer.Option(help="Folder with the benchmark's release files.")] = None,
    split: Annotated[str | None, typer.Option(help="One split (default: every split found).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")] = False,
    skip_bad: Annotated[bool, typer.Option("--skip-bad", help="Skip malformed rows and report them.")] = False,
    opt: Annotated[list[str] | None, typer.Option("--opt", help="Loader option KEY=VALUE (e.g. lang=zh).")] = None,
) -> None:
    """Counts per split and answer type, images found/missing, skipped rows and three example samples."""
    import json

    from armed.data.inspect import inspect_dataset, render

    summary = inspect_dataset(dataset, path, split, skip_bad=skip_bad, options=_parse_opts(opt), progress=True)
    if json_out:
        print(json.dumps(summary, ensure_ascii=False))
    else:
        render(summary, console)


@app.command("train", context_settings={"allow_extra_args": False})
def train_command(
    source: Annotated[str, typer.Argument(help="Recipe name (armed ls recipes) or a pipeline YAML file.")],
    overrides: Annotated[list[str] | None, typer.Argument(
        help="key=value overrides with dotted paths, e.g. stages.1.num_generations=4 model.lora.enabled=true")] = None,
    variant: Annotated[str | None, typer.Option(help="Recipe variant (cpu, gpu, ...); default: the recipe's.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate the whole config without loading weights.")] = False,
    resume: Annotated[bool, typer.Option("--resume", help="Continue a killed run: finished stages are skipped, "
                                                         "the unfinished one resumes from its last checkpoint.")] = False,
) -> None:
    """Run a multi-stage training pipeline (SFT → GRPO, curricula, ...) from a recipe or YAML config."""
    from armed.train import ConfigError, load_config, run
    from armed.train import dry_run as check

    try:
        cfg = load_config(source, overrides or [], variant=variant)
        lines = check(cfg)
    except ConfigError as exc:
        raise UserError(str(exc)) from None
    for line in lines:
        console.print(line, highlight=False)
    if dry_run:
        console.print("[green]config OK[/] (dry run: no weights loaded)")
        return
    try:
        outputs = run(cfg, resume=resume)
    except ConfigError as exc:
        raise UserError(str(exc)) from None
    for stage, folder in outputs.items():
        console.print(f"{stage}: {folder}")


@app.command("audit")
def audit_command(
    reward: Annotated[list[str], typer.Option("--reward", "-r", help="Reward name (repeatable); see `armed ls rewards`.")
                      ] = ["armed", "semantic", "token_f1", "exact_match"],  # noqa: B006
    groups: Annotated[str | None, typer.Option(help="Audit JSONL {group, question, reference, candidate, label}; "
                                                    "default: the shipped medical audit set.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object {reward: metrics} only.")] = False,
    plot: Annotated[str | None, typer.Option(help="Write a PNG of score distributions by label.")] = None,
    out: Annotated[str | None, typer.Option(help="Write full results JSON (config, git, versions, scores).")] = None,
) -> None:
    """Reward audit: within-group Spearman, pairwise accuracy, AUC, within-group std and gap on graded answers."""
    import json
    from pathlib import Path

    from rich.progress import Progress

    from armed.audit import METRIC_KEYS, run_audit
    from armed.registry import REWARDS

    for name in reward:
        REWARDS.get(name)  # unknown names fail here, before any model loads
    with Progress(console=err_console, transient=True, disable=as_json) as progress:
        task = progress.add_task("auditing", total=None)

        def tick(name: str, done: int, total: int) -> None:
            progress.update(task, description=f"auditing {name}", completed=done, total=total)

        result = run_audit(groups, reward, progress=tick)
    if out:
        Path(out).write_text(json.dumps(result.report(), indent=1) + "\n")
    if plot:
        from armed.audit import plot_distributions

        plot_distributions(result, plot)
    if as_json:
        print(json.dumps(result.to_json()))
        return
    table = Table(title=f"reward audit: {result.path} ({len(result.groups)} groups, "
                        f"{sum(len(g.candidates) for g in result.groups)} answers)", title_justify="left")
    table.add_column("reward", style="cyan", no_wrap=True)
    for key in METRIC_KEYS:
        table.add_column(key.replace("_", " "), justify="right")
    for name, m in result.metrics.items():
        table.add_row(name, *("–" if m[k] is None else f"{m[k]:.3f}" for k in METRIC_KEYS))
    console.print(table)


@data_app.command("filter")
def data_filter_command(
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="Registered dataset name (armed ls datasets).")],
    out: Annotated[str, typer.Option(help="Output folder (results.jsonl, filtered.jsonl, pass_rates.json/.png); "
                                          "rerun with the same folder to resume.")],
    model: Annotated[str, typer.Option(help="Policy: armed model name, folder or hub id.")] = "smollm2-135m-instruct",
    path: Annotated[str | None, typer.Option(help="Folder with the benchmark's release files.")] = None,
    split: Annotated[str | None, typer.Option(help="Split to filter (default: the loader's).")] = None,
    k: Annotated[int, typer.Option("--k", help="Responses sampled per question.")] = 8,
    temperature: Annotated[float, typer.Option(help="Sampling temperature.")] = 0.9,
    max_new_tokens: Annotated[int, typer.Option(help="Tokens per response at most.")] = 256,
    batch_size: Annotated[int, typer.Option(help="Sequences per generate call (questions × k).")] = 16,
    reward: Annotated[str, typer.Option(help="Registered reward scoring each response.")] = "accuracy",
    threshold: Annotated[float, typer.Option(help="A response is correct when its score ≥ this.")] = 0.5,
    min_correct: Annotated[int, typer.Option(help="Keep questions with at least this many correct.")] = 1,
    max_correct: Annotated[int | None, typer.Option(help="Keep questions with at most this many (default k−1).")
                           ] = None,
    limit: Annotated[int | None, typer.Option(help="Only the first N questions.")] = None,
    seed: Annotated[int, typer.Option(help="Sampling seed.")] = 0,
    dtype: Annotated[str, typer.Option(help="auto, float32, bfloat16 or float16.")] = "auto",
    backend: Annotated[str, typer.Option(help="auto, transformers or vllm.")] = "auto",
    opt: Annotated[list[str] | None, typer.Option("--opt", help="Loader option KEY=VALUE.")] = None,
) -> None:
    """Difficulty filtering (CAPO/AlphaMed): sample k responses per question, keep 0 < correct < k."""
    from armed.data.filter import FilterConfig, run_filter

    cfg = FilterConfig(dataset=dataset, path=path, split=split, model=model, k=k, temperature=temperature,
                       max_new_tokens=max_new_tokens, batch_size=batch_size, reward=reward, threshold=threshold,
                       min_correct=min_correct, max_correct=max_correct, limit=limit, seed=seed, dtype=dtype,
                       backend=backend)
    summary = run_filter(cfg, out, options=_parse_opts(opt))
    c = summary["counts"]
    console.print(f"kept {c['kept']}/{c['questions']} questions (all correct {c['all_correct']}, all wrong "
                  f"{c['all_wrong']}; mean pass rate {summary['mean_pass_rate']:.3f}) → {out}/filtered.jsonl")


# ---- armed eval / armed report ---------------------------------------------------------------------------


def _task_overrides(pairs: list[str]) -> dict[str, dict[str, str]]:
    """``TASK.KEY=VALUE`` → {task: {key: value}} (path, split, template, system_prompt)."""
    out: dict[str, dict[str, str]] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        task, dot, field_name = key.rpartition(".")
        if not sep or not dot or not task:
            raise UserError(f"expected TASK.KEY=VALUE (e.g. vqa-rad.path=/data/vqa-rad), got {pair!r}")
        if field_name not in ("path", "split", "template", "system_prompt"):
            from armed.registry import did_you_mean

            raise UserError(did_you_mean(field_name, ["path", "split", "template", "system_prompt"],
                                         "task key settable from the command line"))
        out.setdefault(task, {})[field_name] = value
    return out


@app.command("eval")
def eval_command(
    model: Annotated[str, typer.Option("--model", "-m", help="Model: embedded name, local folder or hub id.")],
    tasks: Annotated[str, typer.Option("--tasks", "-t", help="Comma-separated task names or YAML files "
                                       "(armed ls tasks).")],
    overrides: Annotated[list[str] | None, typer.Argument(help="Task settings TASK.KEY=VALUE, e.g. "
                                                          "vqa-rad.path=/data/vqa-rad vqa-rad.split=train.")] = None,
    limit: Annotated[int | None, typer.Option(help="Evaluate the first N samples of each task.")] = None,
    out: Annotated[str | None, typer.Option("--out", "-o", help="Run dir (default runs/eval/<model>); "
                                            "rerunning with the same dir resumes.")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", "-b", help="Prompts per generate call.")] = 8,
    max_new_tokens: Annotated[int, typer.Option(help="Tokens generated per answer at most.")] = 256,
    dtype: Annotated[str, typer.Option(help="auto | float32 | bfloat16 | float16 (auto: bf16 on GPU, "
                                       "fp32 on CPU).")] = "auto",
    backend: Annotated[str, typer.Option(help="auto | transformers | vllm (auto: vLLM if installed on a "
                                         "GPU).")] = "auto",
    seed: Annotated[int, typer.Option(help="Seed (recorded; matters only when sampling).")] = 0,
    sample: Annotated[bool, typer.Option("--sample/--greedy", help="Sample instead of greedy decoding.")] = False,
    temperature: Annotated[float, typer.Option(help="Sampling temperature (with --sample).")] = 1.0,
    path: Annotated[list[str] | None, typer.Option("--path", help="TASK=DIR: the benchmark folder of a "
                                                   "task (else $ARMED_DATA_<DATASET>).")] = None,
    group: Annotated[list[str] | None, typer.Option("--group", help="GROUP=T1,T2 replaces the task files' "
                                                    "groups (e.g. in-domain=vqa-rad,slake).")] = None,
    label: Annotated[str | None, typer.Option(help="Name of this run in reports.")] = None,
) -> None:
    """Evaluate a model on registered tasks; writes results.json and samples.jsonl and prints the scores."""
    from armed.eval.harness import evaluate, resolve_tasks
    from armed.eval.report import results_table, to_rich

    paths = _parse_opts(path)
    groups = {g: [t.strip() for t in members.split(",") if t.strip()] for g, members in _parse_opts(group).items()}
    task_list = resolve_tasks(tasks, paths)
    for name, changes in _task_overrides(overrides or []).items():
        if name not in [t.name for t in task_list]:
            from armed.registry import did_you_mean

            raise UserError(did_you_mean(name, [t.name for t in task_list], "task"))
        task_list = [t.with_overrides(**changes) if t.name == name else t for t in task_list]
    results = evaluate(model, task_list, limit=limit, out_dir=out, batch_size=batch_size,
                       max_new_tokens=max_new_tokens, seed=seed, dtype=dtype, backend=backend, do_sample=sample,
                       temperature=temperature, groups=groups or None, label=label)
    console.print(to_rich(results_table(results)))
    timing = results["timing"]
    console.print(f"[dim]{timing['new_samples']} new, {timing['resumed_samples']} resumed samples · "
                  f"results in {results['run_dir']}/results.json[/]")


@app.command("report")
def report_command(
    runs: Annotated[list[str], typer.Argument(help="Run dirs (eval results and/or training logs), in the order "
                                              "to compare, e.g. base sft grpo.")],
    out: Annotated[str, typer.Option("--out", "-o", help="Folder for report.md, report.html and plots/.")],
    label: Annotated[list[str] | None, typer.Option("--label", help="Name per run dir, in order "
                                                    "(default: run.json label, results label, dir name).")] = None,
    title: Annotated[str, typer.Option(help="Report title.")] = "armed report",
) -> None:
    """Render Markdown and a self-contained HTML report comparing run dirs (from their JSON alone)."""
    from armed.eval.report import comparison_tables, load_run, render_report, to_rich

    with err_console.status("rendering report ..."):
        written = render_report(runs, out, labels=label, title=title)
    for table in comparison_tables([load_run(p, lb) for p, lb in zip(runs, label or [None] * len(runs),
                                                                     strict=True)]):
        console.print(to_rich(table))
    console.print(f"report: {written['html']} · {written['markdown']}")


@data_app.command("distill")
def data_distill_command(
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="Registered dataset name (armed ls datasets).")],
    out: Annotated[str, typer.Option(help="Output folder (results.jsonl, cot.jsonl, summary.json); rerun with "
                                          "the same folder to resume.")],
    teacher: Annotated[str, typer.Option(help="Model id at the endpoint, or a local model name/folder/hub id.")
                       ] = "smollm2-135m-instruct",
    base_url: Annotated[str | None, typer.Option(help="OpenAI-compatible endpoint ending in /v1 (unset: local "
                                                      "teacher).")] = None,
    api_key_env: Annotated[str, typer.Option(help="Environment variable holding the API key.")] = "OPENAI_API_KEY",
    path: Annotated[str | None, typer.Option(help="Folder with the benchmark's release files.")] = None,
    split: Annotated[str | None, typer.Option(help="Split to distil (default: the loader's).")] = None,
    max_new_tokens: Annotated[int, typer.Option(help="Tokens per teacher answer at most.")] = 512,
    temperature: Annotated[float, typer.Option(help="Teacher temperature (0 = greedy).")] = 0.0,
    batch_size: Annotated[int, typer.Option(help="Questions per batch / concurrent requests.")] = 8,
    check: Annotated[str, typer.Option(help="Registered reward checking the teacher's answer.")] = "accuracy",
    threshold: Annotated[float, typer.Option(help="The teacher is right when the check scores ≥ this.")] = 0.5,
    limit: Annotated[int | None, typer.Option(help="Only the first N questions.")] = None,
    dtype: Annotated[str, typer.Option(help="Local teacher dtype: auto, float32, bfloat16, float16.")] = "auto",
    opt: Annotated[list[str] | None, typer.Option("--opt", help="Loader option KEY=VALUE.")] = None,
) -> None:
    """Write <think>…</think><answer>…</answer> SFT data from a teacher, keeping only correct answers."""
    from armed.data.distill import DistillConfig, run_distill

    cfg = DistillConfig(dataset=dataset, path=path, split=split, teacher=teacher, base_url=base_url,
                        api_key_env=api_key_env, max_new_tokens=max_new_tokens, temperature=temperature,
                        batch_size=batch_size, check=check, threshold=threshold, limit=limit, dtype=dtype)
    summary = run_distill(cfg, out, options=_parse_opts(opt))
    c = summary["counts"]
    console.print(f"kept {c['kept']}/{c['questions']} (dropped: wrong {c['wrong']}, no answer {c['no_answer']}, "
                  f"no reasoning {c['no_reasoning']}, failed requests {c['failed']}) → {out}/cot.jsonl")


@app.command("demo")
def demo_command(
    quick: Annotated[bool, typer.Option("--quick", help="Smaller sizes: the whole pipeline in about 5 minutes.")] = False,
    text: Annotated[bool, typer.Option("--text", help="Text policy (SmolLM2-135M) on the MMLU medical questions "
                                       "asked open-ended, instead of the embedded VLM on the image VQA set.")] = False,
    seed: Annotated[int, typer.Option(help="Seed for training and evaluation.")] = 0,
    out: Annotated[str, typer.Option(help="Run folder root; rerunning resumes.")] = "runs/demo",
) -> None:
    """Main job: base eval -> SFT on CoT -> GRPO with the `armed` reward -> eval, then a comparison and a report."""
    from armed.demo import comparison_rows, run_demo

    summary = run_demo(out, quick=quick, text=text, seed=seed, console=console)
    table = Table(title=f"{summary['task']} test (first {summary['plan']['eval_limit']}), seed {seed}, x100",
                  title_justify="left")
    for col in ("answer type / metric", "base", "SFT", "SFT+GRPO"):
        table.add_column(col, justify="left" if col.startswith("answer") else "right")
    for key, cells in comparison_rows(summary):
        table.add_row(key, *cells)
    console.print(table)
    trend = summary.get("grpo_training") or {}
    if trend:
        a, b = trend["first_half"], trend["second_half"]

        def arrow(key: str) -> str:
            return f"{a[key]:.2f} -> {b[key]:.2f}" if trend["steps"] > 1 else f"{b[key]:.2f}"

        parts = ", ".join(f"{k.split('/')[1]} {arrow(k)}" for k in a
                          if k.startswith("rewards/") and a[k] is not None and b[k] is not None)
        span = f"first vs second half of {trend['steps']} steps" if trend["steps"] > 1 else "1 step"
        console.print(f"GRPO training reward ({span}): {arrow('reward')} ({parts}); groups with zero reward variance: "
                      f"{100 * (trend['frac_reward_zero_std'] or 0):.0f} %; mean within-group std: "
                      + ", ".join(f"{k} {v:.2f}" for k, v in trend["group_std"].items() if v is not None))
    t = summary["timings"]
    console.print(f"total {t['total_s']:.0f} s (train {t['train_s']:.0f} s) · report: {summary['report']}")


export_app = typer.Typer(help="Export recipes for other engines (verl).", no_args_is_help=True)
app.add_typer(export_app, name="export")


@export_app.command("verl")
def export_verl_command(
    source: Annotated[str, typer.Argument(help="Recipe name (armed ls recipes) or a pipeline YAML file.")],
    out: Annotated[str, typer.Option("--out", help="Output folder (train.parquet, armed_reward.py, run_verl.sh).")],
    overrides: Annotated[list[str] | None, typer.Argument(help="key=value overrides, as for `armed train`.")] = None,
    variant: Annotated[str | None, typer.Option(help="Recipe variant (cpu, gpu, ...).")] = None,
    stage: Annotated[str | None, typer.Option(help="GRPO stage to export (default: the last).")] = None,
) -> None:
    """Write a recipe's GRPO data as verl parquet plus a reward module calling armed's rewards."""
    from armed.train import ConfigError, load_config
    from armed.train.export_verl import export_verl

    try:
        cfg = load_config(source, overrides or [], variant=variant)
        with console.status("exporting ..."):
            summary = export_verl(cfg, out, recipe=source, stage=stage)
    except ConfigError as exc:
        raise UserError(str(exc)) from None
    console.print(f"wrote {summary['rows']} rows of stage {summary['stage']} to {summary['out']} "
                  f"(rewards {summary['rewards']}); run: {summary['out']}/run_verl.sh", highlight=False)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: runs the app and turns user errors into one line + exit code 2."""
    from armed.models import ModelNotFoundError

    try:
        app(args=argv, standalone_mode=False)
    except (UserError, RegistryError, ModelNotFoundError, FileNotFoundError, ValueError) as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(130)
    except Exception as exc:  # click usage errors arrive here with standalone_mode=False
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise


if __name__ == "__main__":
    main()
