"""Answer extraction, shared by training rewards and evaluation metrics.

Completions arrive as plain strings or as chat messages (``[{"role": "assistant", "content": ...}]``). The
preferred format is ``<think>…</think><answer>…</answer>``; small models rarely produce it, so extraction falls
back, in order, to: an unclosed ``<answer>`` tag, "Answer: …" / "Final answer: …", "The answer is …", and the
last non-empty line. Nothing here raises on malformed text.

>>> extract_answer("<think>air in pleural space</think><answer>Pneumothorax</answer>")
'Pneumothorax'
>>> extract_answer("The lung is collapsed.\\nFinal answer: B) pneumothorax")
'B) pneumothorax'
>>> extract_option_letter("I think the answer is (C).", ["A", "B", "C", "D"])
'C'
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

_THINK = re.compile(r"<think>(.*?)</think>", re.S | re.I)
_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.S | re.I)
_ANSWER_OPEN = re.compile(r"<answer>(.*)$", re.S | re.I)
_STRICT = re.compile(r"^\s*<think>(?:(?!</?think>|</?answer>).)*</think>\s*<answer>(?:(?!</?answer>|</?think>).)*</answer>\s*$",
                     re.S | re.I)
_TAG = re.compile(r"</?\s*(think|answer)\s*>", re.I)
_ANSWER_CUE = re.compile(
    r"(?:final answer|answer|diagnosis|conclusion)\s*(?:is)?\s*[:：]\s*(.+)", re.I)
_ANSWER_IS = re.compile(r"\b(?:the )?(?:final |correct )?answer is\s*[:：]?\s*(.+)", re.I)
_CTRL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

MAX_CHARS = 20_000  # longer completions are cut before regex work; a 1 MB completion must stay cheap


def completion_to_text(completion: Any) -> str:
    """The assistant text of a completion: a string, a message dict, or a list of messages (last assistant)."""
    if completion is None:
        return ""
    if isinstance(completion, str):
        text = completion
    elif isinstance(completion, dict):
        text = _content_text(completion.get("content"))
    elif isinstance(completion, (list, tuple)):
        parts = [m for m in completion if isinstance(m, dict)]
        assistant = [m for m in parts if m.get("role", "assistant") == "assistant"]
        chosen = assistant or parts
        text = _content_text(chosen[-1].get("content")) if chosen else ""
    else:
        text = str(completion)
    return clean_text(text)


def _content_text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # multimodal content blocks
        return " ".join(str(b.get("text", "")) for b in content if isinstance(b, dict) and b.get("type") == "text")
    return str(content)


def clean_text(text: str) -> str:
    """Valid, bounded text: lone surrogates replaced, control characters dropped, length capped."""
    text = text[:MAX_CHARS]
    text = text.encode("utf-8", "replace").decode("utf-8", "replace")
    return _CTRL.sub(" ", text)


@dataclass(frozen=True)
class Parsed:
    """What extraction found in one completion."""

    text: str
    think: str | None
    answer: str | None  # the final answer, or None when nothing answer-like was found
    strict: bool  # exactly one <think>…</think> followed by one <answer>…</answer>, nothing around them
    tagged: bool  # the answer came from a closed <answer> tag


def parse(completion: Any) -> Parsed:
    text = completion_to_text(completion)
    think_m = _THINK.search(text)
    think = think_m.group(1).strip() if think_m else None
    strict = bool(_STRICT.match(text))
    answers = _ANSWER.findall(text)
    if answers:
        answer = _TAG.sub(" ", answers[-1]).strip()
        return Parsed(text, think, answer or None, strict, True)
    return Parsed(text, think, _fallback_answer(text), strict, False)


def _fallback_answer(text: str) -> str | None:
    m = _ANSWER_OPEN.search(text)
    if m:
        tail = _TAG.sub(" ", m.group(1)).strip()
        if tail:
            return tail.splitlines()[0].strip() or None
    body = _THINK.sub(" ", text)  # prefer what comes after the reasoning
    body = _TAG.sub(" ", body)
    for pattern in (_ANSWER_CUE, _ANSWER_IS):
        hits = pattern.findall(body)
        if hits:
            ans = hits[-1].strip().splitlines()[0].strip()
            if ans:
                return ans
    lines = [ln.strip() for ln in body.splitlines() if ln.strip()]
    return lines[-1] if lines else None


def extract_answer(completion: Any) -> str | None:
    """The final answer text of a completion (see module doc for the fallback order), or None."""
    return parse(completion).answer


_LETTER_PATTERNS = (
    r"^\s*\(?([{L}])\)?\s*(?:[.):,\-]|$|\s)",  # "B", "B.", "(B) text", "B) text"
    r"(?i:answer|option|choice)\s*(?:is|:)?\s*\(?([{L}])\)?\b",  # "answer is (C)", "Option: D"
    r"\(([{L}])\)",  # a lone "(C)" anywhere
)


def extract_option_letter(answer: Any, letters: list[str] | tuple[str, ...] = ("A", "B", "C", "D")) -> str | None:
    """The option letter a free-text answer commits to, if it names exactly one."""
    text = answer if isinstance(answer, str) else completion_to_text(answer)
    if not text or not letters:
        return None
    allowed = "".join(re.escape(x) for x in letters)
    for pat in _LETTER_PATTERNS:
        m = re.search(pat.replace("{L}", allowed), text.strip())
        if m:
            return m.group(1).upper()
    return None


_PUNCT = re.compile(r"[^\w\s%./+-]")
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_WS = re.compile(r"\s+")


def normalize(text: Any) -> str:
    """VQA-style normalisation: NFKC, lower case, punctuation and articles dropped, spaces collapsed."""
    if text is None:
        return ""
    s = unicodedata.normalize("NFKC", str(text)).lower()
    s = _PUNCT.sub(" ", s)
    s = re.sub(r"(?<!\d)[./](?!\d)", " ", s)  # keep decimals like 3.5 and ratios like 1/2
    s = _ARTICLES.sub(" ", s)
    return _WS.sub(" ", s).strip()


def tokens(text: Any) -> list[str]:
    return normalize(text).split()
