"""Evaluation generation throughput: batched vs batch-1 and bf16 vs fp32, measured side by side in one run.

The embedded SmolLM2-135M-Instruct answers a few ``mmlu-med-open`` questions through the harness's own
generator (:class:`armed.eval.generate.TransformersGenerator`: chat template, left padding, greedy). The four
settings (fp32/bf16 × batch 1/batch B) run interleaved, round after round, so a change in machine load hits
all of them alike; each figure is the median over rounds. For every setting the process CPU time / wall time
is recorded (≈ the number of cores torch kept busy; a low value means the machine was shared), with the load
average before and after.

Reported: questions/s and generated tokens/s per setting; ratios batched/batch-1 per dtype and bf16/fp32 per
batch size; the fraction of bf16 answers identical to the fp32 ones (greedy decoding in bf16 may diverge).

Second part (``--no-bertscore`` skips it; needs ``pip install -e '.[bench]'``): the ``bertscore`` metric
against the ``bert-score`` package with the same MiniLM weights (``BERTScorer(model_type=<folder>,
num_layers=6)``, no idf, no rescaling) on the same answer pairs: largest and mean absolute F1 difference, and
pairs/s of each.

Run: ``python bench/eval.py [--questions 8] [--batch-size 8] [--max-new-tokens 32] [--rounds 2]``.
Writes ``bench/results/eval.json`` with config, git commit and package versions.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--questions", type=int, default=8)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT / "results" / "eval.json"))
    ap.add_argument("--no-bertscore", action="store_true", help="skip the comparison with bert-score")
    args = ap.parse_args()

    import torch

    from armed.data import load_dataset
    from armed.eval.generate import GenerationConfig, TransformersGenerator
    from armed.eval.harness import build_messages, git_info, package_versions
    from armed.eval.tasks import get_task
    from armed.models import load_causal_lm

    task = get_task("mmlu-med-open")
    samples, _ = load_dataset(task.dataset, None, task.split)
    samples = samples[: args.questions]
    prompts = [build_messages(task, s, vision=False) for s in samples]
    images: list[list[str]] = [[] for _ in samples]
    config = GenerationConfig(max_new_tokens=args.max_new_tokens)

    gens = {}
    for dtype in ("float32", "bfloat16"):
        model, tok = load_causal_lm(args.model, dtype=getattr(torch, dtype))
        gens[dtype] = TransformersGenerator(model, tok, is_vlm=False, name=args.model, dtype=dtype)
    tokenizer = gens["float32"].tokenizer
    settings = [(d, b) for d in ("float32", "bfloat16") for b in (1, args.batch_size)]
    # one untimed warm-up call per dtype (first-call allocations, oneDNN kernel selection)
    for dtype in gens:
        gens[dtype].generate(prompts[:2], images[:2], GenerationConfig(max_new_tokens=4))

    timings: dict[str, list[dict[str, float]]] = {f"{d}/b{b}": [] for d, b in settings}
    answers: dict[str, list[str]] = {}
    load_before = os.getloadavg()
    for _ in range(args.rounds):
        for dtype, bs in settings:
            gen = gens[dtype]
            outs: list[str] = []
            wall0, cpu0 = time.perf_counter(), time.process_time()
            for i in range(0, len(prompts), bs):
                outs += gen.generate(prompts[i:i + bs], images[i:i + bs], config)
            wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
            n_tokens = sum(len(tokenizer(o, add_special_tokens=False)["input_ids"]) for o in outs)
            timings[f"{dtype}/b{bs}"].append({"wall_s": wall, "cpu_wall_ratio": cpu / wall,
                                              "questions_per_s": len(outs) / wall, "tokens_per_s": n_tokens / wall,
                                              "tokens": n_tokens})
            answers[f"{dtype}/b{bs}"] = outs
    load_after = os.getloadavg()

    def med(key: str, field: str) -> float:
        return statistics.median(t[field] for t in timings[key])

    b = args.batch_size
    rows = {k: {f: round(med(k, f), 3) for f in ("wall_s", "questions_per_s", "tokens_per_s", "cpu_wall_ratio")}
            for k in timings}
    ratios = {
        f"batched_b{b}_over_b1_fp32": med(f"float32/b{b}", "questions_per_s") / med("float32/b1", "questions_per_s"),
        f"batched_b{b}_over_b1_bf16": med(f"bfloat16/b{b}", "questions_per_s") / med("bfloat16/b1",
                                                                                    "questions_per_s"),
        "bf16_over_fp32_b1": med("bfloat16/b1", "questions_per_s") / med("float32/b1", "questions_per_s"),
        f"bf16_over_fp32_b{b}": med(f"bfloat16/b{b}", "questions_per_s") / med(f"float32/b{b}", "questions_per_s"),
    }
    agree = {
        "bf16_equals_fp32_b1": _same(answers["bfloat16/b1"], answers["float32/b1"]),
        "batched_equals_b1_fp32": _same(answers[f"float32/b{b}"], answers["float32/b1"]),
        "batched_equals_b1_bf16": _same(answers[f"bfloat16/b{b}"], answers["bfloat16/b1"]),
    }
    result: dict[str, Any] = {
        "bench": "eval generation throughput",
        "config": {"model": args.model, "task": task.name, "questions": len(prompts), "batch_size": b,
                   "max_new_tokens": args.max_new_tokens, "rounds": args.rounds, "decoding": "greedy",
                   "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
                   "cpu_bf16_flags": _cpu_bf16_flags()},
        "settings": rows,
        "ratios": {k: round(v, 3) for k, v in ratios.items()},
        "identical_answers": agree,
        "load_average": {"before": [round(x, 2) for x in load_before], "after": [round(x, 2) for x in load_after]},
        "bertscore_vs_bert_score": None if args.no_bertscore else bertscore_agreement(),
        "raw": timings,
        "git": git_info(ROOT),
        "packages": package_versions(),
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{'setting':<14}{'q/s':>8}{'tok/s':>9}{'cpu/wall':>10}")
    for k, r in rows.items():
        print(f"{k:<14}{r['questions_per_s']:>8.2f}{r['tokens_per_s']:>9.1f}{r['cpu_wall_ratio']:>10.2f}")
    for k, v in result["ratios"].items():
        print(f"{k}: {v:.2f}x")
    if result["bertscore_vs_bert_score"]:
        print(f"bertscore vs bert-score: {result['bertscore_vs_bert_score']}")
    print(f"identical answers: {agree}\nload average before/after: {load_before} / {load_after}\nwrote {out}")


def bertscore_agreement(n: int = 96) -> dict[str, Any]:
    """armed's ``bertscore`` metric vs ``bert_score.BERTScorer`` on the same MiniLM weights and answer pairs."""
    import random

    from bert_score import BERTScorer

    from armed.eval.metrics import get_bertscore
    from armed.models import resolve

    rng = random.Random(0)
    words = ("left right small large pleural effusion pneumothorax consolidation nodule mass of the liver kidney "
             "lung lower upper lobe no evidence acute chronic fracture").split()
    pairs = [(" ".join(rng.choices(words, k=rng.randint(1, 8))), " ".join(rng.choices(words, k=rng.randint(1, 5))))
             for _ in range(n)]
    metric = get_bertscore("minilm-l6")
    metric.score_pairs(["warm up"], ["warm up"])
    t0 = time.perf_counter()
    ours = [s[2] for s in metric.score_pairs([p for p, _ in pairs], [r for _, r in pairs])]
    ours_s = time.perf_counter() - t0
    scorer = BERTScorer(model_type=str(resolve("minilm-l6")), num_layers=6, batch_size=64, device="cpu")
    scorer.score(["warm up"], ["warm up"])
    t0 = time.perf_counter()
    _, _, f1 = scorer.score([p for p, _ in pairs], [r for _, r in pairs])
    theirs_s = time.perf_counter() - t0
    diffs = [abs(a - float(b)) for a, b in zip(ours, f1.tolist(), strict=True)]
    return {"pairs": n, "max_abs_diff": round(max(diffs), 6), "mean_abs_diff": round(sum(diffs) / n, 6),
            "armed_pairs_per_s": round(n / ours_s, 1), "bert_score_pairs_per_s": round(n / theirs_s, 1)}


def _cpu_bf16_flags() -> list[str]:
    """The CPU's native bf16 instructions (without them torch emulates bf16 and it is slower than fp32)."""
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return []
    return sorted(flags & {"avx512_bf16", "amx_bf16", "amx_tile"})


def _same(a: list[str], b: list[str]) -> float:
    return round(sum(x == y for x, y in zip(a, b, strict=True)) / len(a), 3)


if __name__ == "__main__":
    main()
