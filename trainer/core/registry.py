"""The one name -> object table used wherever a config field chooses an entry
(`TrialConfig.dataset`, `.gan_loss`, `.selection`, `.features`, the evaluation protocol).

Filled by `@REGISTRY.register("name")` in the module that implements the entry, so adding an
entry is one decorator; config validation and error messages read `names()`, never a copy.
A registry whose entries need torch is made in trainer.core.vocabulary with the names `declared`
(so a TrialConfig validates without torch) and filled where the entries are implemented; a
test checks that no declared name is left without its entry.
"""
from __future__ import annotations

import difflib
import typing


def did_you_mean(name: object, valid: typing.Iterable[str]) -> str:
    """' (did you mean 'x'?)' for the valid name closest to a misspelt `name`, else ''."""
    close = difflib.get_close_matches(str(name), list(valid), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


class Registry:
    """A small name -> object table; an unknown name raises `error` listing the valid ones."""

    def __init__(self, kind: str, error: type[Exception] = ValueError,
                 declared: typing.Iterable[str] = (), home: str = "") -> None:
        self.kind = kind                      # what a name denotes, for error messages
        self.error = error                    # the caller's one-line error type
        self._items: dict[str, typing.Any] = {}
        self._declared = set(declared)        # valid names whose entries `home` registers
        self.home = home                      # the module that implements the declared names

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

    def unregister(self, name: str) -> None:
        """Drop `name` (a test's toy entry); unknown names raise like a lookup."""
        self[name]
        del self._items[name]

    def validate(self, name: object) -> None:
        """Raise `error` (naming the valid ones, with a suggestion) unless `name` is registered
        or declared; unlike a lookup it needs no entry, so it needs no import of `home`."""
        if name not in self:
            raise self.error(f"unknown {self.kind} {name!r}{did_you_mean(name, self.names())} "
                             f"(valid: {', '.join(self.names())})")

    def __getitem__(self, name: str) -> typing.Any:
        if name in self._declared and name not in self._items:
            raise RuntimeError(f"{self.kind} {name!r} is declared but not registered: "
                               f"import {self.home or 'its module'} first")
        self.validate(name)
        return self._items[name]

    def __contains__(self, name: object) -> bool:
        return name in self._items or name in self._declared

    def __iter__(self) -> typing.Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def names(self) -> list[str]:
        """Every valid name: the registered ones and the declared ones."""
        return sorted(self._declared | set(self._items))

    def unfilled(self) -> list[str]:
        """Declared names that have no registered entry (empty once `home` is imported)."""
        return sorted(self._declared - set(self._items))
