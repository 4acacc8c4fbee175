"""Evaluation metrics: table-driven cases and agreement with the maintained libraries (rouge-score, nltk)."""

from __future__ import annotations

import random

import pytest

from armed.registry import METRICS

WORDS = ("left right lower upper lobe pleural effusion pneumothorax consolidation nodule mass liver kidney "
         "lesion enhancing hypodense axial coronal mri ct chest fracture normal small large").split()


def one(metric: str, pred: str, answer: str, **cols) -> float | None:
    return METRICS.get(metric)(None, [pred], answer=[answer], **{k: [v] for k, v in cols.items()})[0]


@pytest.mark.parametrize(("pred", "answer", "answer_type", "expected"), [
    ("<answer>No, there isn't.</answer>", "no", "closed", 1.0),
    ("Answer: absent", "no", "closed", 1.0),
    ("<answer>yes</answer>", "no", "closed", 0.0),
    ("<answer>CT scan</answer>", "CT", "closed", 1.0),
    ("<answer>not CT</answer>", "CT", "closed", 0.0),
    ("The answer is (B).", "MRI", "multiple_choice", 1.0),
    ("<answer>magnetic resonance: MRI</answer>", "MRI", "multiple_choice", 1.0),
    ("<answer>C</answer>", "MRI", "multiple_choice", 0.0),
])
def test_closed_accuracy(pred, answer, answer_type, expected):
    opts = '{"A": "CT", "B": "MRI", "C": "X-ray"}' if answer_type == "multiple_choice" else ""
    letter = "B" if answer_type == "multiple_choice" else ""
    assert one("closed_accuracy", pred, answer, answer_type=answer_type, options=opts,
               answer_letter=letter) == expected


def test_missing_reference_abstains():
    for name in ("closed_accuracy", "exact_match", "token_recall", "f1", "bleu1", "rouge1", "rougeL"):
        assert METRICS.get(name)(None, ["<answer>x</answer>"], answer=[""], answer_type=["open"])[0] is None, name


@pytest.mark.parametrize(("metric", "pred", "answer", "expected"), [
    ("exact_match", "<answer>The Left Lung.</answer>", "left lung", 1.0),
    ("exact_match", "<answer>left lung base</answer>", "left lung", 0.0),
    ("token_recall", "<answer>small left pleural effusion</answer>", "pleural effusion", 1.0),
    ("token_recall", "<answer>effusion</answer>", "pleural effusion", 0.5),
    ("f1", "<answer>right pleural effusion</answer>", "pleural effusion", 0.8),
    ("f1", "garbage with no tags at all", "pneumothorax", 0.0),
])
def test_textual_cases(metric, pred, answer, expected):
    assert one(metric, pred, answer) == pytest.approx(expected)


def test_aliases_take_the_best_reference():
    assert one("exact_match", "<answer>computed tomography</answer>", "CT", aliases=["computed tomography"]) == 1.0


def _pairs(n: int, seed: int = 0) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    return [(" ".join(rng.choices(WORDS, k=rng.randint(1, 9))), " ".join(rng.choices(WORDS, k=rng.randint(1, 6))))
            for _ in range(n)]


def test_rouge_matches_rouge_score():
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rouge1", "rougeL"], use_stemmer=False)
    for pred, ref in _pairs(150):
        lib = scorer.score(ref, pred)
        assert one("rouge1", f"<answer>{pred}</answer>", ref) == pytest.approx(lib["rouge1"].fmeasure, abs=1e-9)
        assert one("rougeL", f"<answer>{pred}</answer>", ref) == pytest.approx(lib["rougeL"].fmeasure, abs=1e-9)


def test_bleu1_matches_nltk():
    from nltk.translate.bleu_score import sentence_bleu

    for pred, ref in _pairs(150, seed=1):
        lib = sentence_bleu([ref.split()], pred.split(), weights=(1.0,))
        assert one("bleu1", f"<answer>{pred}</answer>", ref) == pytest.approx(lib, abs=1e-9)


def test_f1_equals_rouge1_and_recall_definition():
    for pred, ref in _pairs(100, seed=2):
        p, r = f"<answer>{pred}</answer>", ref
        assert one("f1", p, r) == pytest.approx(one("rouge1", p, r))
        ref_toks, pred_toks = ref.split(), pred.split()
        hits = sum(min(pred_toks.count(w), ref_toks.count(w)) for w in set(ref_toks))
        assert one("token_recall", p, r) == pytest.approx(hits / len(ref_toks))


@pytest.fixture(scope="module")
def tiny_encoder_dir(tmp_path_factory):
    """A 2-layer random BERT saved as a plain transformers folder (sentence-transformers adds mean pooling)."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-bert")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *sorted(set(WORDS))]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    BertTokenizerFast(vocab_file=str(folder / "vocab.txt")).save_pretrained(folder)
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                         intermediate_size=64)).save_pretrained(folder)
    return folder


def _reference_bertscore(folder, cand: str, ref: str) -> float:
    """BERTScore F1 computed like bert_score.greedy_cos_idf (padded batch, masks, [CLS]/[SEP] weight 0)."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tok, model = AutoTokenizer.from_pretrained(folder), AutoModel.from_pretrained(folder).eval()
    enc = tok([ref, cand], padding=True, return_tensors="pt")
    with torch.no_grad():
        emb = model(**enc).last_hidden_state
    emb = emb / emb.norm(dim=-1, keepdim=True)
    mask = enc["attention_mask"].float()
    weight = mask.clone()
    weight[enc["input_ids"] == tok.cls_token_id] = 0
    weight[enc["input_ids"] == tok.sep_token_id] = 0
    sim = emb[1] @ emb[0].T * (mask[1][:, None] * mask[0][None, :])
    p = (sim.max(dim=1).values * weight[1]).sum() / weight[1].sum()
    r = (sim.max(dim=0).values * weight[0]).sum() / weight[0].sum()
    return float(2 * p * r / (p + r))


def test_bertscore_matches_reference_computation(tiny_encoder_dir):
    from armed.eval.metrics import get_bertscore

    metric = get_bertscore(str(tiny_encoder_dir))
    pairs = [("left pleural effusion", "pleural effusion"), ("axial ct chest", "coronal mri"),
             ("small nodule liver", "large mass kidney lesion")]
    got = metric(None, [f"<answer>{p}</answer>" for p, _ in pairs], answer=[r for _, r in pairs])
    for (p, r), g in zip(pairs, got, strict=True):
        assert g == pytest.approx(_reference_bertscore(tiny_encoder_dir, p, r), abs=1e-5)
    same = metric(None, ["<answer>pleural effusion</answer>", ""], answer=["pleural effusion", "mass"])
    assert same[0] == pytest.approx(1.0, abs=1e-6) and same[1] == 0.0
    precision = get_bertscore(str(tiny_encoder_dir), "precision")
    recall = get_bertscore(str(tiny_encoder_dir), "recall")
    assert precision(None, ["<answer>left pleural effusion</answer>"], answer=["pleural effusion"])[0] != \
        recall(None, ["<answer>left pleural effusion</answer>"], answer=["pleural effusion"])[0]
    with pytest.raises(ValueError, match="bertscore part"):
        get_bertscore(part="f2")


@pytest.mark.slow
def test_default_metrics_on_minilm_rank_negation_below_synonym():
    """embedding_cosine gives "no pneumothorax" a high score (collapse); the armed metric does not."""
    preds = ["<answer>collapsed lung</answer>", "<answer>no pneumothorax</answer>"]
    cos = METRICS.get("embedding_cosine")(None, preds, answer=["pneumothorax"] * 2)
    med = METRICS.get("armed")(None, preds, answer=["pneumothorax"] * 2)
    bs = METRICS.get("bertscore")(None, preds, answer=["pneumothorax"] * 2)
    assert cos[1] > cos[0] and bs[1] > bs[0]  # the raw semantic scores prefer the negation
    assert med[0] > 0.9 and med[1] < 0.2
