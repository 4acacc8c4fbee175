"""Build TRL's GRPOTrainer for a GRPO stage.

Rewards arrive already wrapped (:func:`armed.train.callbacks.wrap_rewards`), named by their registry key.
A reward that needs the policy itself (CAPO's perception consistency scores the policy's likelihood of its
answer with the original vs a perturbed image) exposes ``attach(model, processing_class)`` (or
``bind_trainer(trainer)``); it is called once the trainer exists, with the trainer's own model, so the reward
scores the policy as it trains (LoRA adapters included).
"""

from __future__ import annotations

from typing import Any


def build(model: Any, processing_class: Any, train_dataset: Any, reward_funcs: list, args: Any,
          peft_config: Any = None, callbacks: list | None = None):
    """An ``trl.GRPOTrainer``; ``args`` is a ``trl.GRPOConfig`` (num_generations, loss_type, beta, ...)."""
    from trl import GRPOTrainer

    trainer = GRPOTrainer(model=model, reward_funcs=reward_funcs, args=args, train_dataset=train_dataset,
                          processing_class=processing_class, peft_config=peft_config, callbacks=callbacks)
    for reward in reward_funcs:
        inner = getattr(reward, "reward", reward)
        if callable(getattr(inner, "bind_trainer", None)):
            inner.bind_trainer(trainer)
        elif callable(getattr(inner, "attach", None)):
            inner.attach(trainer.model, trainer.processing_class)
    return trainer
