"""Build TRL's GRPOTrainer for a GRPO stage.

Rewards arrive already wrapped (:func:`armed.train.callbacks.wrap_rewards`), named by their registry key.
A reward that needs the policy itself (CAPO's perception consistency scores the policy's likelihood of its
answer with the original vs a perturbed image) exposes ``bind_trainer(trainer)``; it is called once the trainer
exists, so the reward reads ``trainer.model`` and ``trainer.processing_class`` at scoring time (under
DeepSpeed/FSDP the wrapped model is the one to call).
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
        bind = getattr(inner, "bind_trainer", None)
        if callable(bind):
            bind(trainer)
    return trainer
