"""The one error type of the data room: bad user input (a path, a split, a file, a value)."""
from __future__ import annotations


class DataError(ValueError):
    """A dataset problem a user can fix; the message is one line and names the file or value."""
