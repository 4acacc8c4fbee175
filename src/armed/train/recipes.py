"""Recipes: the YAML pipelines in ``configs/``, registered in ``RECIPES`` under their file name.

A recipe is data, not code: adding one is adding ``configs/<name>.yaml`` (with a ``description`` line and,
usually, ``variants: {cpu: ..., gpu: ...}``). The folder is found, in order, at ``$ARMED_CONFIGS``, at the
repository root next to ``src/`` (editable installs, a git checkout), or inside the installed package
(``armed/configs``, shipped as package data).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import yaml

from armed.registry import RECIPES


@dataclass(frozen=True)
class Recipe:
    """A recipe file: ``armed train <name>`` loads ``path``."""

    name: str
    path: Path
    description: str
    variants: tuple[str, ...]


def configs_dir() -> Path | None:
    """The folder recipes are read from (see the module docstring), or None when none exists."""
    here = Path(__file__).resolve()
    candidates = [os.environ.get("ARMED_CONFIGS"), here.parents[3] / "configs", here.parents[1] / "configs"]
    for c in candidates:
        if c and Path(c).is_dir() and any(Path(c).glob("*.yaml")):
            return Path(c)
    return None


def accelerate_configs_dir() -> Path | None:
    root = configs_dir()
    return root / "accelerate" if root is not None and (root / "accelerate").is_dir() else None


def _register_all() -> None:
    root = configs_dir()
    if root is None:
        return
    for path in sorted(root.glob("*.yaml")):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError:
            data = {"description": "(not valid YAML: run `armed train --dry-run` on it for the error)"}
        if not isinstance(data, dict) or "stages" not in data and "description" not in data:
            continue
        recipe = Recipe(path.stem, path, str(data.get("description", "")).strip(),
                        tuple((data.get("variants") or {}).keys()))
        variants = f" (variants: {', '.join(recipe.variants)})" if recipe.variants else ""
        RECIPES.add(recipe.name, recipe, recipe.description + variants)


_register_all()
