"""The scale switch: one setting that sizes every experiment (every
chapter).

``COURSE_SCALE=small`` keeps a notebook within its CPU budget (a few minutes
on two cores): fewer epochs, smaller images, a subset of the data.
``COURSE_SCALE=full`` runs the sizes the papers describe. When the variable
is unset the scale is ``full`` on a CUDA GPU and ``small`` everywhere else,
so CI and laptops get the small scale.

A notebook asks for its sizes in one place::

    from course_utils.scale import scaled
    epochs = scaled(small=2, full=30)
"""

from __future__ import annotations

import os
from typing import Literal, TypeVar

import torch

SCALE_ENV_VAR = "COURSE_SCALE"
Scale = Literal["small", "full"]
SCALES: tuple[Scale, ...] = ("small", "full")
T = TypeVar("T")


def current_scale() -> Scale:
    """Return ``"small"`` or ``"full"``: ``COURSE_SCALE`` if set, else by
    hardware."""
    value = os.environ.get(SCALE_ENV_VAR, "").strip().lower()
    if not value:
        return "full" if torch.cuda.is_available() else "small"
    if value not in SCALES:
        raise ValueError(
            f"{SCALE_ENV_VAR}={os.environ[SCALE_ENV_VAR]!r} is not a "
            "scale; expected 'small' or 'full'"
        )
    return value  # type: ignore[return-value]


def scaled(*, small: T, full: T) -> T:
    """Return ``small`` or ``full`` according to :func:`current_scale`."""
    return full if current_scale() == "full" else small


def describe_scale() -> str:
    """One line for a notebook's output that says which scale runs and
    how to change it."""
    scale = current_scale()
    source = (
        f"from {SCALE_ENV_VAR}"
        if os.environ.get(SCALE_ENV_VAR, "").strip()
        else (
            "default on a CUDA GPU"
            if scale == "full"
            else "default without a CUDA GPU"
        )
    )
    return (
        f"Scale: {scale} ({source}; set {SCALE_ENV_VAR}=small or "
        "full to change it)"
    )
