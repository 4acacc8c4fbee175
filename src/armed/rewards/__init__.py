"""Rewards with TRL's signature ``f(prompts, completions, **columns) -> list[float | None]``.

Importing this package imports every reward module, so :data:`armed.registry.REWARDS` lists them all.
Extraction of the final answer lives in :mod:`armed.rewards.extract` (shared with evaluation).
"""

from armed.rewards import (  # noqa: F401  (registration on import)
    adaptive,
    compose,
    consistency,
    extract,
    judge,
    length,
    medical,
    rule,
    semantic,
    textual,
)
