"""Training: multi-stage SFT → GRPO pipelines on TRL, configured by YAML recipes in ``configs/``.

>>> from armed.train import load_config, dry_run, run  # doctest: +SKIP
>>> cfg = load_config("armed", ["stages.1.max_steps=20"], variant="cpu")  # doctest: +SKIP
>>> print("\\n".join(dry_run(cfg))); run(cfg)  # doctest: +SKIP

Importing this package registers the recipes (``armed ls recipes``); TRL is imported only when a run starts.
"""

from armed.train import recipes  # noqa: F401  (registers configs/*.yaml in RECIPES)
from armed.train.config import ConfigError, PipelineConfig, load_config
from armed.train.pipeline import dry_run, run

__all__ = ["ConfigError", "PipelineConfig", "dry_run", "load_config", "run"]
