"""Answer extraction, shared by training rewards and evaluation metrics.

Completions arrive as plain strings or as chat messages (``[{"role": "assistant", "content": ...}]``). The
preferred format is ``<think>…</think><answer>…</answer>``; small models rarely produce it, so extraction falls
back, in order, to: an unclosed ``<answer>`` tag, ``\\boxed{…}``, "Answer: …" / "Final answer: …", "The answer
is …", and the last non-empty line. Nothing here raises on malformed text (None, 1 MB strings, control
characters, lone surrogates, unclosed or nested tags).

>>> extract_answer("<think>air in pleural space</think><answer>Pneumothorax</answer>")
'Pneumothorax'
>>> extract_answer("The lung is collapsed.\\nFinal answer: B) pneumothorax")
'B) pneumothorax'
>>> extract_option_letter("I think the answer is (C).", ["A", "B", "C", "D"])
'C'
>>> normalize("The X-ray shows a 3.5 cm mass!")
'x ray shows 3.5 cm mass'
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

MAX_CHARS = 20_000  # longer completions are cut before regex work, so a 1 MB completion stays cheap

_ANSWER_OPEN = re.compile(r"<\s*answer\s*>(.*)$", re.S | re.I)
_TAG = re.compile(r"<\s*/?\s*(?:think|answer)\s*>", re.I)
# Exactly one think block then one answer block, with no tags inside either and nothing around them.
_STRICT = re.compile(
    r"^\s*<think>(?:(?!</?think>|</?answer>).)*</think>\s*<answer>(?:(?!</?answer>|</?think>).)*</answer>\s*$",
    re.S | re.I,
)
_BOXED = re.compile(r"\\boxed\{([^{}]{1,500})\}")
# Single whitespace quantifiers only: adjacent \s* groups backtrack quadratically on long blank runs.
_ANSWER_CUE = re.compile(r"(?:final answer|answer|diagnosis|conclusion)[ \t]*(?:is[ \t]*)?[:：][ \t]*(.+)", re.I)
_ANSWER_IS = re.compile(r"\b(?:the )?(?:final |correct )?answer is[ \t]*(?:[:：][ \t]*)?(.+)", re.I)
_CTRL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\ufeff]")


def completion_to_text(completion: Any) -> str:
    """The assistant text of a completion: a string, a message dict, or a list of messages (last assistant).

    >>> completion_to_text([{"role": "assistant", "content": "yes"}])
    'yes'
    """
    try:
        if completion is None:
            return ""
        if isinstance(completion, str):
            text = completion
        elif isinstance(completion, bytes):
            text = completion.decode("utf-8", "replace")
        elif isinstance(completion, dict):
            text = _content_text(completion.get("content"))
        elif isinstance(completion, (list, tuple)):
            parts = [m for m in completion if isinstance(m, dict)]
            if not parts:  # a list of strings: join them
                text = "\n".join(m for m in completion if isinstance(m, str))
            else:
                assistant = [m for m in parts if m.get("role", "assistant") == "assistant"]
                chosen = assistant or parts
                text = _content_text(chosen[-1].get("content"))
        else:
            text = str(completion)
    except Exception:  # a hostile __str__ or odd container: treat as no text rather than crash a training step
        return ""
    return clean_text(text)


def _content_text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # multimodal content blocks
        return " ".join(str(b.get("text", "")) for b in content if isinstance(b, dict) and b.get("type") == "text")
    return str(content)


def clean_text(text: Any) -> str:
    """Valid, bounded text: length capped, lone surrogates replaced, control and zero-width characters blanked."""
    if text is None:
        return ""
    if not isinstance(text, str):
        text = str(text)
    text = text[:MAX_CHARS]
    text = text.encode("utf-8", "replace").decode("utf-8", "replace")
    return _CTRL.sub(" ", text)


@dataclass(frozen=True)
class Parsed:
    """What extraction found in one completion."""

    text: str  # the cleaned completion text
    think: str | None  # the content of the first closed <think> block
    answer: str | None  # the final answer, or None when nothing answer-like was found
    strict: bool  # exactly one <think>…</think> followed by one <answer>…</answer>, nothing around them
    tagged: bool  # the answer came from a closed <answer> tag


def parse(completion: Any) -> Parsed:
    """Parse one completion (string or chat messages) into reasoning and final answer.

    >>> p = parse("<think>x</think><answer>yes</answer>")
    >>> (p.think, p.answer, p.strict, p.tagged)
    ('x', 'yes', True, True)
    """
    text = completion_to_text(completion)
    spans = tag_spans(text)
    think = _TAG.sub(" ", text[spans["think"][0]:spans["think"][1]]).strip() if spans["think"] else None
    strict = bool(_STRICT.match(text))
    if spans["answer"]:
        answer = _TAG.sub(" ", text[spans["answer"][0]:spans["answer"][1]]).strip()
        return Parsed(text, think, answer or None, strict, True)
    return Parsed(text, think, _fallback_answer(text, spans["think"]), strict, False)


_TAG_PARTS = re.compile(r"<\s*(/?)\s*(think|answer)\s*>", re.I)


def tag_spans(text: str) -> dict[str, tuple[int, int] | None]:
    """Content spans of the first closed think block and the last closed answer block, in one linear pass.

    A closing tag pairs with the most recent opening tag of its kind, so ``<answer><answer>x</answer>`` gives
    ``x``. (Lazy regexes like ``<answer>(.*?)</answer>`` are quadratic on text with many unclosed tags.)
    """
    open_at: dict[str, int | None] = {"think": None, "answer": None}
    spans: dict[str, tuple[int, int] | None] = {"think": None, "answer": None}
    for m in _TAG_PARTS.finditer(text):
        kind = m.group(2).lower()
        if not m.group(1):
            open_at[kind] = m.end()
        elif open_at[kind] is not None:
            if kind == "answer" or spans["think"] is None:
                spans[kind] = (open_at[kind], m.start())
            open_at[kind] = None
    return spans


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


def _fallback_answer(text: str, think_span: tuple[int, int] | None = None) -> str | None:
    m = _ANSWER_OPEN.search(text)
    if m:
        tail = _first_line(_TAG.sub(" ", m.group(1)))
        if tail:
            return tail
    if think_span is not None:  # prefer what comes after the reasoning
        body = text[: max(0, think_span[0])] + " " + text[think_span[1]:]
        body = _TAG.sub(" ", body)
        if not body.strip():  # only reasoning: its last line is the best guess
            body = _TAG.sub(" ", text)
    else:
        body = _TAG.sub(" ", text)
    boxed = _BOXED.findall(body)
    if boxed and boxed[-1].strip():
        return boxed[-1].strip()
    for pattern in (_ANSWER_CUE, _ANSWER_IS):
        hits = pattern.findall(body)
        if hits:
            ans = _first_line(hits[-1])
            if ans:
                return ans
    lines = [ln.strip() for ln in body.splitlines() if ln.strip()]
    if not lines:
        return None
    # A model that only repeats the option list ("A. ...\nB. ...\nD. ...") has not chosen the last option.
    if _OPTION_LINE.match(lines[-1]) and sum(bool(_OPTION_LINE.match(ln)) for ln in lines) >= 2:
        return None
    return lines[-1]


_OPTION_LINE = re.compile(r"^\(?[A-J][.)]\s")


def extract_answer(completion: Any) -> str | None:
    """The final answer text of a completion (see module doc for the fallback order), or None."""
    return parse(completion).answer


_LETTER_PATTERNS = (
    # "B", "B.", "B)", "(B) text", "B: text", "**B**" at the start; a bare "A text" is not a letter (article).
    r"^\W{0,3}\(?([{L}])\)?\**(?:[.):]|\s+[-–]\s|\s*$)",
    r"^\(([{L}])\)",
    # "answer is (C)", "Option: D", "choice B"
    r"(?i:\banswer|\boption|\bchoice)[ \t]*(?:(?i:is)[ \t]*)?(?:[:：][ \t]*)?\(?([{L}])\)?(?![\w])",
)
_PAREN_LETTER = r"\(([{L}])\)"


def extract_option_letter(answer: Any, letters: Sequence[str] = ("A", "B", "C", "D")) -> str | None:
    """The option letter a free-text answer commits to, or None when it names none (or several).

    >>> extract_option_letter("B) pneumothorax")
    'B'
    >>> extract_option_letter("A pneumothorax") is None
    True
    """
    text = answer if isinstance(answer, str) else completion_to_text(answer)
    letters = [str(x).strip().upper() for x in (letters or ()) if str(x).strip()]
    if not text or not letters:
        return None
    text = clean_text(text).strip()
    allowed = "".join(re.escape(x) for x in letters if len(x) == 1)
    if not allowed:
        return None
    for i, pat in enumerate(_LETTER_PATTERNS):
        m = re.search(pat.replace("{L}", allowed + allowed.lower() if i == 1 else allowed), text)
        if m:
            return m.group(1).upper()
    found = {x.upper() for x in re.findall(_PAREN_LETTER.replace("{L}", allowed + allowed.lower()), text)}
    return found.pop() if len(found) == 1 else None


_PUNCT = re.compile(r"[^\w\s%./+]")  # hyphens, quotes, brackets... become spaces
_UNDERSCORE = re.compile(r"_")
_NON_NUMERIC_DOT = re.compile(r"(?<!\d)[./]|[./](?!\d)")  # keep decimals like 3.5 and ratios like 1/2
_ARTICLES = re.compile(r"\b(?:a|an|the)\b")
_WS = re.compile(r"\s+")


def normalize(text: Any) -> str:
    """VQA-style normalisation: NFKC, lower case, punctuation and articles dropped, spaces collapsed.

    Decimal points and ratios between digits ("3.5", "1/2") and "%" / "+" are kept; hyphens split words
    ("x-ray" → "x ray"), so hyphenated and spaced spellings compare equal.
    """
    if text is None:
        return ""
    s = unicodedata.normalize("NFKC", clean_text(text)).lower()
    s = _PUNCT.sub(" ", s)
    s = _UNDERSCORE.sub(" ", s)
    s = _NON_NUMERIC_DOT.sub(" ", s)
    s = _ARTICLES.sub(" ", s)
    return _WS.sub(" ", s).strip()


def tokens(text: Any) -> list[str]:
    """Normalised whitespace tokens (see :func:`normalize`)."""
    return normalize(text).split()
