"""The analysis package's one error type."""
from __future__ import annotations


class AnalysisError(ValueError):
    """Bad input to the analysis (a missing folder, an unreadable file, an unknown table or
    format); the message is one line and names the file, field or value."""
