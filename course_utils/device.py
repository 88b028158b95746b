"""Choose the device a notebook computes on (every chapter).

The order is CUDA, then Apple's MPS, then the CPU. The environment variable
``COURSE_DEVICE`` (for example ``cpu``, ``cuda``, ``cuda:1`` or ``mps``)
overrides the choice, which is how a reader with a GPU forces the CPU path
the book was tested on.
"""

from __future__ import annotations

import os

import torch

DEVICE_ENV_VAR = "COURSE_DEVICE"
_KNOWN_TYPES = ("cpu", "cuda", "mps")


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def _parse_override(value: str) -> torch.device:
    try:
        device = torch.device(value.strip())
    except RuntimeError as error:
        raise ValueError(
            f"{DEVICE_ENV_VAR}={value!r} is not a device name; expected "
            f"one of {', '.join(_KNOWN_TYPES)} (optionally with an index, "
            "e.g. 'cuda:1')"
        ) from error
    if device.type not in _KNOWN_TYPES:
        raise ValueError(
            f"{DEVICE_ENV_VAR}={value!r} names device type "
            f"{device.type!r}; expected one of {', '.join(_KNOWN_TYPES)}"
        )
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"{DEVICE_ENV_VAR}={value!r} asks for CUDA, but no CUDA "
                "GPU is available"
            )
        if (
            device.index is not None
            and device.index >= torch.cuda.device_count()
        ):
            raise ValueError(
                f"{DEVICE_ENV_VAR}={value!r} asks for GPU {device.index}, "
                f"but only {torch.cuda.device_count()} CUDA device(s) "
                "exist"
            )
    if device.type == "mps" and not _mps_available():
        raise ValueError(
            f"{DEVICE_ENV_VAR}={value!r} asks for MPS, but MPS is not "
            "available here"
        )
    return device


def select_device() -> tuple[torch.device, str]:
    """Return the device to use and a one-line reason for the choice."""
    override = os.environ.get(DEVICE_ENV_VAR, "").strip()
    if override:
        return _parse_override(
            override
        ), f"set by {DEVICE_ENV_VAR}={override}"
    if torch.cuda.is_available():
        return torch.device(
            "cuda"
        ), f"CUDA GPU found: {torch.cuda.get_device_name(0)}"
    if _mps_available():
        return torch.device("mps"), "Apple MPS backend found"
    return torch.device("cpu"), "no CUDA or MPS device found"


def get_device(verbose: bool = True) -> torch.device:
    """Pick cuda, then mps, then cpu (``COURSE_DEVICE`` overrides) and
    say which."""
    device, reason = select_device()
    if verbose:
        print(f"Device: {device} ({reason})")
    return device
