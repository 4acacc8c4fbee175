"""armed: reinforcement fine-tuning of (vision-)language models for medical reasoning, on Hugging Face TRL."""

import os as _os

# On small CPU machines OpenMP's default busy-wait makes small matmuls 10-15x slower; this must be set
# before torch is first imported, and every entry point imports armed first.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
_os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

__version__ = "0.1.0"
