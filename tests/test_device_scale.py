"""course_utils.device and course_utils.scale: choices, overrides and error messages."""

import pytest
import torch

from course_utils import device, scale


def test_default_device_follows_hardware(monkeypatch, capsys):
    monkeypatch.delenv(device.DEVICE_ENV_VAR, raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(device, "_mps_available", lambda: False)
    assert device.get_device() == torch.device("cpu")
    assert "Device: cpu (no CUDA or MPS device found)" in capsys.readouterr().out

    monkeypatch.setattr(device, "_mps_available", lambda: True)
    assert device.get_device(verbose=False) == torch.device("mps")

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index=0: "Fake GPU")
    chosen, reason = device.select_device()
    assert chosen == torch.device("cuda") and "Fake GPU" in reason


def test_environment_overrides_device(monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index=0: "Fake GPU")
    monkeypatch.setenv(device.DEVICE_ENV_VAR, "cpu")
    assert device.get_device() == torch.device("cpu")
    assert "set by COURSE_DEVICE=cpu" in capsys.readouterr().out


@pytest.mark.parametrize(
    "value, words",
    [
        ("gpu", ["'gpu'", "cpu, cuda, mps"]),
        ("xla", ["'xla'", "cpu, cuda, mps"]),
        ("cuda", ["CUDA", "no CUDA GPU"]),
        ("mps", ["MPS", "not available"]),
    ],
)
def test_bad_device_override_is_explained(monkeypatch, value, words):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(device, "_mps_available", lambda: False)
    monkeypatch.setenv(device.DEVICE_ENV_VAR, value)
    with pytest.raises(ValueError) as info:
        device.get_device()
    for word in words:
        assert word in str(info.value)


def test_scale_defaults_small_without_gpu_and_full_with(monkeypatch):
    monkeypatch.delenv(scale.SCALE_ENV_VAR, raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert scale.current_scale() == "small"
    assert scale.scaled(small=2, full=30) == 2
    assert "default without a CUDA GPU" in scale.describe_scale()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert scale.current_scale() == "full"
    assert scale.scaled(small=2, full=30) == 30


def test_scale_environment_variable_wins(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setenv(scale.SCALE_ENV_VAR, " Small ")
    assert scale.current_scale() == "small"
    assert "from COURSE_SCALE" in scale.describe_scale()
    monkeypatch.setenv(scale.SCALE_ENV_VAR, "huge")
    with pytest.raises(ValueError, match=r"COURSE_SCALE='huge'.*'small' or 'full'"):
        scale.scaled(small=1, full=2)
