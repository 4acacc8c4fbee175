"""Build TRL's SFTTrainer for an SFT stage (full fine-tuning or LoRA via ``peft_config``).

The dataset is conversational prompt–completion (``prompt`` = system + user messages, ``completion`` = the
assistant message), so TRL computes the loss on the completion only.
"""

from __future__ import annotations

from typing import Any


def build(model: Any, processing_class: Any, train_dataset: Any, args: Any, peft_config: Any = None,
          callbacks: list | None = None):
    """An ``trl.SFTTrainer`` with armed's callbacks; ``args`` is a ``trl.SFTConfig``."""
    from trl import SFTTrainer

    return SFTTrainer(model=model, args=args, train_dataset=train_dataset, processing_class=processing_class,
                      peft_config=peft_config, callbacks=callbacks)
