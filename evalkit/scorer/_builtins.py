"""Imports every built-in scorer module so that their types are registered."""

from evalkit.scorer import (  # noqa: F401
    _checks,
    _citations,
    _judge,
    _operational,
    _structured,
    _text,
    _trajectory,
)
