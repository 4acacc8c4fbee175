"""One generic registry for rewards, dataset loaders, metrics, eval tasks, recipes and models.

A thing is registered with a decorator beside its definition::

    from armed.registry import REWARDS

    @REWARDS.register("token_f1", description="Token-level F1 against the reference")
    def token_f1(prompts, completions, answer, **kwargs): ...

and looked up by its key or by an import path ``"package.module:attr"``, so adding one is a one-file
change and user code outside armed plugs in without touching it::

    REWARDS.get("token_f1")
    REWARDS.get("my_project.rewards:my_reward")

Unknown keys fail with the list of close matches ("did you mean ...").
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class RegistryError(KeyError):
    """An unknown or duplicate registry key. ``str()`` is a single readable line."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class Entry(Generic[T]):
    name: str
    obj: T
    description: str


def _first_doc_line(obj: Any) -> str:
    doc = getattr(obj, "__doc__", None) or ""
    for line in doc.strip().splitlines():
        if line.strip():
            return line.strip()
    return ""


def import_path(path: str) -> Any:
    """Resolve ``"package.module:attr"`` (or ``"package.module.attr"``) to the object it names."""
    if ":" in path:
        module_name, _, attr = path.partition(":")
    else:
        module_name, _, attr = path.rpartition(".")
    if not module_name or not attr:
        raise RegistryError(f"{path!r} is not an import path of the form 'package.module:attr'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise RegistryError(f"cannot import module {module_name!r} for {path!r}: {exc}") from exc
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise RegistryError(f"module {module_name!r} has no attribute {attr!r} (from {path!r})")
        obj = getattr(obj, part)
    return obj


class Registry(Generic[T]):
    """A name → object table of one kind of thing.

    Args:
        kind: what the entries are, used in messages ("reward", "dataset", ...).
        populate: modules imported on first lookup; importing them runs the ``@register`` decorators.
    """

    def __init__(self, kind: str, populate: tuple[str, ...] = ()):
        self.kind = kind
        self._populate = populate
        self._populated = False
        self._entries: dict[str, Entry[T]] = {}

    def register(self, name: str | None = None, *, description: str | None = None) -> Callable[[T], T]:
        """Decorator: register ``obj`` under ``name`` (default: its ``__name__``)."""

        def decorator(obj: T) -> T:
            key = name or getattr(obj, "__name__", None)
            if not key:
                raise RegistryError(f"a {self.kind} needs a name to be registered")
            existing = self._entries.get(key)
            if existing is not None and existing.obj is not obj:
                raise RegistryError(f"{self.kind} {key!r} is already registered ({existing.obj!r})")
            self._entries[key] = Entry(key, obj, description or _first_doc_line(obj))
            return obj

        return decorator

    def add(self, name: str, obj: T, description: str = "") -> T:
        """Register ``obj`` without a decorator (for data-driven entries such as YAML recipes)."""
        return self.register(name, description=description)(obj)

    def _ensure_populated(self) -> None:
        if self._populated:
            return
        self._populated = True
        for module in self._populate:
            if importlib.util.find_spec(module) is not None:
                importlib.import_module(module)

    def get(self, name: str) -> T:
        """The object registered as ``name``, or the one at import path ``name`` ("pkg.mod:attr")."""
        self._ensure_populated()
        if name in self._entries:
            return self._entries[name].obj
        if ":" in name:
            return import_path(name)
        raise RegistryError(self._unknown_message(name))

    def describe(self, name: str) -> str:
        self._ensure_populated()
        return self._entries[name].description

    def _unknown_message(self, name: str) -> str:
        close = difflib.get_close_matches(name, list(self._entries), n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        known = ", ".join(sorted(self._entries)) or "none"
        return (
            f"unknown {self.kind} {name!r}.{hint} Known: {known}. "
            f"(Or give an import path 'package.module:attr'.)"
        )

    def names(self) -> list[str]:
        self._ensure_populated()
        return sorted(self._entries)

    def entries(self) -> list[Entry[T]]:
        self._ensure_populated()
        return [self._entries[k] for k in sorted(self._entries)]

    def __contains__(self, name: object) -> bool:
        self._ensure_populated()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        self._ensure_populated()
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {len(self._entries)} entries)"


def did_you_mean(value: str, allowed: list[str] | tuple[str, ...], what: str) -> str:
    """One-line error text for a value outside ``allowed``, with close matches first."""
    close = difflib.get_close_matches(value, list(allowed), n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return f"invalid {what} {value!r}.{hint} Allowed: {', '.join(map(str, allowed))}."


REWARDS: Registry[Any] = Registry("reward", populate=("armed.rewards",))
DATASETS: Registry[Any] = Registry("dataset", populate=("armed.data",))
METRICS: Registry[Any] = Registry("metric", populate=("armed.eval.metrics",))
TASKS: Registry[Any] = Registry("eval task", populate=("armed.eval.tasks",))
RECIPES: Registry[Any] = Registry("recipe", populate=("armed.train.recipes",))
MODELS: Registry[Any] = Registry("model", populate=("armed.models", "armed.vlm"))

ALL: dict[str, Registry[Any]] = {
    "rewards": REWARDS,
    "datasets": DATASETS,
    "metrics": METRICS,
    "tasks": TASKS,
    "recipes": RECIPES,
    "models": MODELS,
}
