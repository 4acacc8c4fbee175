"""Throughput of the semantic and `armed` rewards vs bert-score and plain sentence-transformers (pairs/s).

All methods use the same all-MiniLM-L6-v2 weights (the embedded ``minilm-l6`` folder) on the same GRPO-like
batches: ``--prompts`` prompts per batch × groups of ``--group`` completions, each group drawing its answers
from a few distinct candidates (repeats, as sampled groups have). Three scenarios: ``fresh`` — every batch has
new prompts and answers, so no embedding cache can help (pure compute); ``revisit`` — the same prompts again
(a later epoch) with re-sampled groups, where armed's embedding cache holds the references and answers seen
before; ``dataset:<name>`` — a first epoch over a real dataset's train split (default ``medscan-vqa``), each
group drawn from the answers the dataset gives to that question type: texts recur as often as in the data.
Timings are interleaved across methods (rotating order) so load from other processes hits all alike.
Rows:

* ``semantic``            armed's registered ``semantic`` reward on tagged completions (extraction included)
* ``armed``               the registered ``armed`` composite reward, if registered (skipped with a note if not)
* ``sentence-transformers`` ``SentenceTransformer.encode`` of candidates and references, cosine (no de-dup)
* ``bert-score``          ``bert_score.BERTScorer(model_type=<minilm folder>, num_layers=6).score`` F1

Run: ``python bench/rewards.py`` (needs ``pip install -e '.[bench]'`` for bert-score). Writes
``bench/results/rewards.json`` with config, git commit and package versions.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import time
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parent

SIDES = ["", "left ", "right ", "bilateral "]
SIZES = ["", "small ", "large ", "3 cm ", "moderate "]
FINDINGS = ["pleural effusion", "pneumothorax", "consolidation", "mass", "nodule", "cardiomegaly", "fracture",
            "atelectasis", "hemorrhage", "infarct", "edema", "lymphadenopathy", "abscess", "cyst", "calcification"]
PLACES = ["", " in the upper lobe", " in the lower lobe", " of the liver", " in the kidney", " of the femur",
          " in the frontal lobe", " at the base", " in the mediastinum"]


def answer(rng: random.Random) -> str:
    return f"{rng.choice(SIDES)}{rng.choice(SIZES)}{rng.choice(FINDINGS)}{rng.choice(PLACES)}".strip()


def make_batches(n_batches: int, prompts: int, group: int, distinct: int, seed: int
                 ) -> tuple[list[dict[str, list]], list[dict[str, list]]]:
    """GRPO-like batches: per prompt one reference and ``group`` completions drawn from ``distinct`` answers.

    Returns ``(fresh, revisit)``: ``fresh`` batches have new prompts and answers each time (nothing can be
    cached across batches); ``revisit`` batches are the same prompts seen again (a later epoch) with each
    group re-sampled from the same answer pool, as when a policy revisits a prompt.
    """
    rng = random.Random(seed)
    seen: set[str] = set()

    def fresh() -> str:
        for _ in range(1000):
            a = answer(rng)
            if a not in seen:
                seen.add(a)
                return a
        return answer(rng) + f" #{len(seen)}"

    def batch(pools: list[tuple[str, list[str]]]) -> dict[str, list]:
        refs, cands = [], []
        for ref, pool in pools:
            refs += [ref] * group
            cands += [rng.choice(pool) for _ in range(group)]
        return {"answer": refs, "candidates": cands,
                "completions": [f"<think>Looking at the image.</think><answer>{c}</answer>" for c in cands]}

    all_pools = []
    for _ in range(n_batches):
        pools = []
        for _ in range(prompts):
            ref = fresh()
            pools.append((ref, [ref] + [fresh() for _ in range(distinct - 1)]))
        all_pools.append(pools)
    return [batch(p) for p in all_pools], [batch(p) for p in all_pools]


def dataset_batches(n_batches: int, prompts: int, group: int, seed: int, name: str = "medscan-vqa",
                    split: str = "train") -> list[dict[str, list]]:
    """GRPO-like batches over a real dataset's first epoch: each prompt's reference is the sample's answer and
    its group is drawn from the answers the dataset gives to questions of the same type (the answer space a
    policy samples from on that benchmark), the reference among them. Texts recur exactly as often as they do
    in the data, which is where an embedding cache can or cannot help."""
    from collections import defaultdict

    from armed.data import load_dataset

    samples, _ = load_dataset(name, split=split)
    rng = random.Random(seed)
    rng.shuffle(samples)
    def kind(sample) -> str:
        return str(sample.meta.get("question_type") or sample.answer_type)

    pools: dict[str, list[str]] = defaultdict(list)
    for s in samples:
        pools[kind(s)].append(str(s.answer))
    out = []
    for b in range(n_batches):
        refs, cands = [], []
        for s in samples[b * prompts:(b + 1) * prompts]:
            pool = pools[kind(s)]
            refs += [str(s.answer)] * group
            cands += [str(s.answer) if rng.random() < 0.4 else rng.choice(pool) for _ in range(group)]
        out.append({"answer": refs, "candidates": cands,
                    "completions": [f"<think>Looking at the image.</think><answer>{c}</answer>" for c in cands]})
    return out


def timed(methods: dict[str, Callable[[dict], Any]], batches: list[dict], warm_up: bool = True
          ) -> dict[str, dict[str, float]]:
    """Time every method on every batch, interleaved (method order rotates per batch) so that load from
    other processes on a shared machine hits all methods alike."""
    names = list(methods)
    timed_batches = batches[1:] if warm_up else batches
    if warm_up:
        for name in names:
            methods[name](batches[0])  # model load, first-call allocations
    wall = dict.fromkeys(names, 0.0)
    cpu = dict.fromkeys(names, 0.0)
    for k, b in enumerate(timed_batches):
        for name in names[k % len(names):] + names[: k % len(names)]:
            w0, c0 = time.perf_counter(), time.process_time()
            methods[name](b)
            wall[name] += time.perf_counter() - w0
            cpu[name] += time.process_time() - c0
    pairs = sum(len(b["candidates"]) for b in timed_batches)
    return {name: {"pairs": pairs, "wall_s": round(wall[name], 3), "cpu_s": round(cpu[name], 3),
                   "pairs_per_s": round(pairs / wall[name], 1), "pairs_per_cpu_s": round(pairs / cpu[name], 1),
                   "cpu_per_wall": round(cpu[name] / wall[name], 2)} for name in names}


def git_commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for pkg in ("armed", "torch", "transformers", "sentence-transformers", "bert-score", "numpy"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batches", type=int, default=30, help="timed batches (+1 warm-up)")
    ap.add_argument("--prompts", type=int, default=16, help="prompts per batch")
    ap.add_argument("--group", type=int, default=8, help="completions per prompt (GRPO group size)")
    ap.add_argument("--distinct", type=int, default=3, help="distinct answers a group draws from")
    ap.add_argument("--model", default="minilm-l6", help="armed model name of the sentence encoder")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dataset", default="medscan-vqa",
                    help="third scenario: a first epoch over this registered dataset's train split ('' to skip)")
    ap.add_argument("--out", default=str(ROOT / "results" / "rewards.json"))
    args = ap.parse_args(argv)

    import numpy as np
    import torch

    from armed.models import load_sentence_encoder, resolve
    from armed.registry import REWARDS
    from armed.rewards.semantic import get_embedder, get_semantic_reward

    fresh, revisit = make_batches(args.batches + 1, args.prompts, args.group, args.distinct, args.seed)
    folder = str(resolve(args.model))
    notes: list[str] = []
    methods: dict[str, Callable[[dict], Any]] = {}

    # The registered `semantic` reward, but on its own embedder (device="cpu" keys a separate cache), so that
    # `armed` (which shares the default embedder) never hits embeddings the other row just computed.
    semantic = get_semantic_reward(args.model, device="cpu")
    assert type(semantic) is type(REWARDS.get("semantic"))
    methods["semantic"] = lambda b: semantic(None, b["completions"], answer=b["answer"])
    if "armed" in REWARDS:
        armed_reward = REWARDS.get("armed")
        methods["armed"] = lambda b: armed_reward(None, b["completions"], answer=b["answer"],
                                                  aliases=[[] for _ in b["answer"]],
                                                  answer_type=["open"] * len(b["answer"]))
    else:
        notes.append("armed reward not registered: row skipped")
        print("note: the 'armed' reward is not registered; its row is skipped")

    encoder = load_sentence_encoder(args.model)

    def plain(b: dict) -> list[float]:
        c = encoder.encode(b["candidates"], batch_size=64, convert_to_numpy=True, normalize_embeddings=True,
                           show_progress_bar=False)
        r = encoder.encode(b["answer"], batch_size=64, convert_to_numpy=True, normalize_embeddings=True,
                           show_progress_bar=False)
        return list(np.sum(c * r, axis=1))

    methods["sentence-transformers"] = plain
    try:
        from bert_score import BERTScorer
    except ImportError:
        notes.append("bert-score not installed (pip install -e '.[bench]'): row skipped")
        print("note: bert-score is not installed; install the 'bench' extra. Its row is skipped")
    else:
        scorer = BERTScorer(model_type=folder, num_layers=6, batch_size=64, device="cpu")
        methods["bert-score"] = lambda b: scorer.score(b["candidates"], b["answer"])

    # The warm-up batch of `fresh` is the same for all methods; the embedding cache starts empty for the
    # timed fresh batches (their texts are all new), and holds what those batches saw for `revisit`.
    get_embedder(args.model).clear_cache()
    get_embedder(args.model, "cpu").clear_cache()
    results: dict[str, Any] = {"fresh": timed(methods, fresh)}
    results["revisit"] = timed(methods, revisit[1:], warm_up=False)
    if args.dataset:
        get_embedder(args.model).clear_cache()
        get_embedder(args.model, "cpu").clear_cache()
        stream = dataset_batches(args.batches, args.prompts, args.group, args.seed, args.dataset)
        texts = [set(b["answer"]) | set(b["candidates"]) for b in stream]
        seen: set[str] = set()
        new = 0
        for t in texts:
            new += len(t - seen)
            seen |= t
        stats = {"distinct_texts_per_batch": round(sum(map(len, texts)) / len(texts), 1),
                 "new_text_fraction": round(new / sum(map(len, texts)), 3)}
        results[f"dataset:{args.dataset}"] = {**timed(methods, stream, warm_up=False), "_stream": stats}

    for scenario in results.values():
        scenario = {k: v for k, v in scenario.items() if not k.startswith("_")}
        base = scenario.get("bert-score", {}).get("pairs_per_s")
        base_cpu = scenario.get("bert-score", {}).get("pairs_per_cpu_s")
        plain_rate = scenario["sentence-transformers"]["pairs_per_s"]
        for row in scenario.values():
            row["vs_bert_score"] = round(row["pairs_per_s"] / base, 2) if base else None
            row["vs_bert_score_cpu"] = round(row["pairs_per_cpu_s"] / base_cpu, 2) if base_cpu else None
            row["vs_sentence_transformers"] = round(row["pairs_per_s"] / plain_rate, 2)

    report = {
        "benchmark": "rewards",
        "config": {**vars(args), "pairs_per_batch": args.prompts * args.group, "torch_threads": torch.get_num_threads(),
                   "cpu_count": os.cpu_count(), "device": "cpu"},
        "git_commit": git_commit(),
        "versions": versions(),
        "results": results,
        "notes": notes,
    }
    for scenario, rows in results.items():
        print(f"\n{scenario}: {args.batches} batches of {args.prompts} prompts x {args.group} completions")
        print(f"{'method':<24}{'pairs/s':>9}{'vs bert-score':>15}{'(cpu)':>8}{'vs s-t':>8}{'cpu/wall':>10}")
        for name, row in rows.items():
            if name.startswith("_"):
                print(f"  stream: {row}")
                continue
            vs_b = f"{row['vs_bert_score']:.2f}x" if row["vs_bert_score"] else "-"
            vs_c = f"{row['vs_bert_score_cpu']:.2f}x" if row["vs_bert_score_cpu"] else "-"
            print(f"{name:<24}{row['pairs_per_s']:>9.1f}{vs_b:>15}{vs_c:>8}{row['vs_sentence_transformers']:>7.2f}x"
                  f"{row['cpu_per_wall']:>10.2f}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")
    return report


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
