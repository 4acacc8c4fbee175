"""Rule-based rewards: output format and answer accuracy (closed-ended, multiple choice, dispatch by type).

* ``format_strict`` — 1.0 for exactly ``<think>…</think><answer>…</answer>`` and nothing else (DeepSeek-R1's
  format reward, as in ARMed, CAPO and MedCCO), else 0.0.
* ``format_partial`` — partial credit, 0.25 for each of: a closed think block, a closed non-empty answer block,
  reasoning before the answer, and the strict shape. Small models that never emit the tags still get a gradient
  towards them (SmolLM2 never did in 24 samples: a strict reward gives all-zero groups).
* ``closed_accuracy`` — yes/no answers compared after normalisation ("No, there isn't", "absent", "negative"
  → no; "present", "positive" → yes); other closed answers by normalised match against answer + aliases.
* ``mc_accuracy`` — multiple choice, by option letter ("B", "(B)", "Answer: B") or by the option's text.
* ``accuracy`` — dispatches on the ``answer_type`` column: closed → ``closed_accuracy``, multiple_choice →
  ``mc_accuracy``, open → token F1 of the final answer (max over aliases).

>>> closed_accuracy(None, ["<think>…</think><answer>No, there isn't.</answer>"], answer=["no"])
[1.0]
>>> mc_accuracy(None, ["Answer: (B)"], answer_letter=["B"], options=['{"A": "CT", "B": "MRI"}'])
[1.0]
"""

from __future__ import annotations

import re
from typing import Any

from armed.registry import REWARDS
from armed.rewards.columns import answer_rows, as_text, column, options_dict, references
from armed.rewards.extract import extract_answer, extract_option_letter, normalize, parse, tag_spans, tokens
from armed.rewards.textual import best_over_references, token_f1

# ------------------------------------------------------------------------------------------------ format

def format_score(completion: Any) -> float:
    """Partial-credit format score of one completion in {0, 0.25, 0.5, 0.75, 1}."""
    p = parse(completion)
    if p.strict:
        return 1.0
    spans = tag_spans(p.text)
    think, answer = spans["think"], spans["answer"]
    score = 0.0
    if think:
        score += 0.25
    if answer and p.text[answer[0]:answer[1]].strip():
        score += 0.25
    if think and answer and think[1] <= answer[0]:
        score += 0.25
    return score


@REWARDS.register("format_strict", description="1 for exactly <think>…</think><answer>…</answer>, else 0")
def format_strict(prompts=None, completions=None, **kwargs) -> list[float]:
    """1.0 when the completion is exactly one think block followed by one answer block, else 0.0.

    >>> format_strict(None, ["<think>r</think>\\n<answer>yes</answer>", "yes"])
    [1.0, 0.0]
    """
    return [1.0 if parse(c).strict else 0.0 for c in (completions or [])]


@REWARDS.register("format_partial", description="Partial-credit format reward (0.25 per format property)")
def format_partial(prompts=None, completions=None, **kwargs) -> list[float]:
    """0.25 each for a closed think block, a non-empty closed answer, think before answer; 1.0 when strict.

    >>> format_partial(None, ["<think>r</think><answer>yes</answer>", "<think>r</think> yes", "yes"])
    [1.0, 0.25, 0.0]
    """
    return [format_score(c) for c in (completions or [])]


# ------------------------------------------------------------------------------------------------ yes / no

YES_WORDS = frozenset({
    "yes", "y", "yeah", "yep", "yup", "true", "correct", "present", "positive", "seen", "visible", "affirmative",
    "definitely", "certainly", "indeed",
})
NO_WORDS = frozenset({
    "no", "n", "nope", "not", "none", "false", "incorrect", "absent", "negative", "never", "without", "neither",
    "nor", "unlikely", "nothing", "nil",
})
_NEGATION = re.compile(
    r"\b(?:no|not|none|absent|negative|without|never|neither|nor|nothing|unlikely|free of|ruled out)\b"
    r"|n['’]t\b|\bcannot\b",
    re.I,
)
_HEDGE = re.compile(
    r"^(?:i am |i m |i )?(?:not sure|unsure|uncertain|unclear|unknown|undetermined|indeterminate|"
    r"cannot (?:be )?(?:determined?|tell|say)|can t (?:be )?(?:determined?|tell|say)|maybe|perhaps|possibly|"
    r"don t know|do not know|it depends|either)\b"
)
_AFFIRM = re.compile(r"\b(?:yes|present|positive|seen|visible|there (?:is|are)|shows?|demonstrates?)\b", re.I)


def yes_no(text: Any) -> str | None:
    """``"yes"``, ``"no"`` or None for a free-text answer to a yes/no question.

    The first word decides when it is a yes/no word ("No, there isn't" → no, "Yes, but no effusion" → yes);
    otherwise any negation cue means no ("There isn't any", "absent") and an affirmative cue means yes.
    A hedge ("Not sure", "cannot be determined", "maybe") is None: it must not earn the "no" reward.

    >>> [yes_no(t) for t in ["No, there isn't", "absent", "negative", "present", "Positive.", "Not sure"]]
    ['no', 'no', 'no', 'yes', 'yes', None]
    """
    raw = as_text(text)
    toks = tokens(raw)
    if not toks:
        return None
    if _HEDGE.match(" ".join(toks)):  # "Not sure", "cannot determine": a hedge is neither answer
        return None
    if toks[0] in YES_WORDS:
        return "yes"
    if toks[0] in NO_WORDS:
        return "no"
    raw = raw[:2000]
    if _NEGATION.search(raw):
        return "no"
    if _AFFIRM.search(raw):
        return "yes"
    return None


def _is_yes_no_reference(ref: str) -> bool:
    return normalize(ref) in ("yes", "no")


def closed_correct(pred: Any, refs: list[str]) -> float:
    """Correctness (0/1) of a closed-ended answer against its references.

    Yes/no references compare :func:`yes_no` labels; other closed answers ("CT", "left") match when the
    normalised answer equals a reference, or contains it as a phrase in a short, non-negated answer
    ("CT scan" for "CT"; not "not CT", nor the hedge "left or right").
    """
    pred_text = as_text(pred)
    if not pred_text.strip() or not refs:
        return 0.0
    for ref in refs:
        if _is_yes_no_reference(ref):
            label = yes_no(pred_text)
            if label is not None and label == normalize(ref):
                return 1.0
            continue
        p, r = normalize(pred_text), normalize(ref)
        if not r:
            continue
        if p == r:
            return 1.0
        p_toks, r_toks = p.split(), r.split()
        short = len(p_toks) <= 2 * len(r_toks) + 3
        hedged = "or" in p_toks and "or" not in r_toks
        if short and not hedged and f" {r} " in f" {p} " and not _NEGATION.search(pred_text[:2000]):
            return 1.0
    return 0.0


@REWARDS.register("closed_accuracy", description="Closed-ended accuracy with yes/no normalisation")
def closed_accuracy(prompts=None, completions=None, answer=None, aliases=None, **kwargs) -> list[float | None]:
    """1.0 when the final answer matches the closed-ended reference (yes/no normalised), else 0.0.

    Rows without a reference abstain (None).
    """
    completions = list(completions or [])
    n = len(completions)
    answers, alias_col = column({"a": answer}, "a", n), column({"a": aliases}, "a", n)
    out: list[float | None] = []
    for completion, ref, al in zip(completions, answers, alias_col, strict=True):
        refs = references(ref, al)
        out.append(closed_correct(extract_answer(completion), refs) if refs else None)
    return out


# ------------------------------------------------------------------------------------------------ multiple choice

DEFAULT_LETTERS = ("A", "B", "C", "D", "E")


def choose_option(pred: Any, options: dict[str, str]) -> str | None:
    """The option letter an answer picks: by letter first, else by option text; None if ambiguous.

    >>> choose_option("I'd say pleural effusion", {"A": "Pneumothorax", "B": "Pleural effusion"})
    'B'
    """
    text = as_text(pred)
    if not text.strip():
        return None
    letters = tuple(options) if options else DEFAULT_LETTERS
    letter = extract_option_letter(text, letters)
    if letter is not None:
        return letter
    if not options:
        return None
    p = normalize(text)
    exact = [k for k, v in options.items() if normalize(v) and normalize(v) == p]
    if len(exact) == 1:
        return exact[0]
    # An option text named inside the answer; if several are, keep the longest only when it contains the others
    # ("pleural effusion" beats "effusion"), otherwise the answer is ambiguous.
    inside = [k for k, v in options.items() if normalize(v) and f" {normalize(v)} " in f" {p} "]
    if len(inside) == 1:
        return inside[0]
    if inside:
        longest = max(inside, key=lambda k: len(normalize(options[k])))
        if all(f" {normalize(options[k])} " in f" {normalize(options[longest])} " for k in inside):
            return longest
    return None


def mc_correct(pred: Any, options: dict[str, str], answer_letter: str = "", answer: str = "") -> float:
    """Correctness (0/1) of a multiple-choice answer given the options and the correct letter or text."""
    chosen = choose_option(pred, options)
    if chosen is None:
        return 0.0
    target = as_text(answer_letter).strip().upper()
    if not target and answer:
        ans = as_text(answer).strip()
        if options:
            matches = [k for k, v in options.items() if normalize(v) == normalize(ans)]
            target = matches[0] if matches else ""
        if not target and len(ans) == 1:
            target = ans.upper()
    return float(bool(target) and chosen.upper() == target)


@REWARDS.register("mc_accuracy", description="Multiple-choice accuracy by option letter or option text")
def mc_accuracy(prompts=None, completions=None, answer_letter=None, options=None, answer=None,
                **kwargs) -> list[float | None]:
    """1.0 when the final answer picks the correct option (by letter or text), else 0.0; None without a key."""
    completions = list(completions or [])
    n = len(completions)
    letters = column({"a": answer_letter}, "a", n, "")
    opts = column({"a": options}, "a", n, "")
    answers = column({"a": answer}, "a", n, "")
    out: list[float | None] = []
    for completion, letter, opt, ans in zip(completions, letters, opts, answers, strict=True):
        if not as_text(letter).strip() and not as_text(ans).strip():
            out.append(None)
            continue
        out.append(mc_correct(extract_answer(completion), options_dict(opt), as_text(letter), as_text(ans)))
    return out


# ------------------------------------------------------------------------------------------------ dispatch


def row_accuracy(pred: Any, answer_type: str, refs: list[str], options: dict[str, str],
                 answer_letter: str) -> float:
    """Accuracy of one final answer for its ``answer_type`` (open answers: token F1 in [0, 1])."""
    kind = as_text(answer_type).strip().lower()
    if kind == "multiple_choice":
        return mc_correct(pred, options, answer_letter, refs[0] if refs else "")
    if not as_text(pred).strip():
        return 0.0
    if kind == "closed":
        return closed_correct(pred, refs)
    return best_over_references(token_f1, pred, refs)


@REWARDS.register("accuracy", description="Accuracy by answer_type: closed yes/no, multiple choice, open token F1")
def accuracy(prompts=None, completions=None, answer=None, aliases=None, answer_type=None, options=None,
             answer_letter=None, **kwargs) -> list[float | None]:
    """Per-row accuracy dispatched on ``answer_type`` (missing type: closed when the reference is yes/no, else open).

    >>> accuracy(None, ["<answer>yes</answer>", "<answer>C</answer>", "<answer>left effusion</answer>"],
    ...          answer=["yes", "MRI", "effusion"], answer_type=["closed", "multiple_choice", "open"],
    ...          options=["", '{"A": "CT", "B": "X-ray", "C": "MRI"}', ""], answer_letter=["", "C", ""])
    [1.0, 1.0, 0.6666666666666666]
    """
    completions = list(completions or [])
    out: list[float | None] = []
    rows = answer_rows(len(completions), answer, aliases, answer_type, options, answer_letter)
    for completion, (refs, kind, opts, letter) in zip(completions, rows, strict=True):
        if not kind:
            kind = "closed" if refs and _is_yes_no_reference(refs[0]) else "open"
        if not refs and not (kind == "multiple_choice" and letter):
            out.append(None)
            continue
        out.append(row_accuracy(extract_answer(completion), kind, refs, opts, letter))
    return out
