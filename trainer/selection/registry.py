"""Name -> factory registries for selection strategies and feature extractors, and the one error.

Both registries are filled by decorators in their modules (`strategies.py`, `thumbnails.py`,
`resnet.py`); importing `trainer.selection` imports them all. An unknown name raises a
`SelectionError` that lists the valid names (timm-style).
"""
from __future__ import annotations

import typing


class SelectionError(ValueError):
    """Bad selection input (unknown name, budget out of range, missing weights); one line."""


class Registry:
    """A small name -> object table filled by `@REGISTRY.register("name")`."""

    def __init__(self, kind: str) -> None:
        self.kind = kind                      # what a name denotes, for error messages
        self._items: dict[str, typing.Any] = {}

    def register(self, name: str, **attrs: object) -> typing.Callable:
        """Decorator: register `obj` under `name`; `attrs` are set on it (e.g. uses_features)."""
        def decorate(obj):
            if name in self._items:
                raise RuntimeError(f"{self.kind} {name!r} registered twice")
            for key, value in attrs.items():
                setattr(obj, key, value)
            self._items[name] = obj
            return obj
        return decorate

    def __getitem__(self, name: str) -> typing.Any:
        if name not in self._items:
            raise SelectionError(f"unknown {self.kind} {name!r} (valid: {', '.join(self.names())})")
        return self._items[name]

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> typing.Iterator[str]:
        return iter(self.names())

    def names(self) -> list[str]:
        return sorted(self._items)


STRATEGIES = Registry("selection strategy")   # name -> fn(features [N, D], budget, seed) -> indices
EXTRACTORS = Registry("feature extractor")    # name -> factory(device) -> Extractor
