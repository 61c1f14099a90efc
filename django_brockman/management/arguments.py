"""Argument types shared by the management commands: a clear error for a bad value."""

from __future__ import annotations

from argparse import ArgumentTypeError


def positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise ArgumentTypeError(f"must be at least 1, got {number}")
    return number


def positive_float(value: str) -> float:
    number = float(value)
    if not number > 0:  # also refuses nan
        raise ArgumentTypeError(f"must be more than 0, got {number}")
    return number
