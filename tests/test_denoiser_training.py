"""Chapter 6's training script: seeded, resumable, and checkpoints that record how they were
made."""

from __future__ import annotations

import dataclasses

import pytest
import torch

import course_utils.denoiser_training as training
from course_utils.denoiser_training import (
    DNCNN_CHECKPOINT,
    FFDNET_CHECKPOINT,
    DenoiserConfig,
    load_denoiser,
    save_checkpoint,
    train_denoiser,
)
from course_utils.dncnn import DnCNN
from course_utils.ffdnet import FFDNet
from nbgrader_course import REPO

TINY = dict(depth=4, channels=8, batch_size=4, patch_size=24, images=("brick", "moon"))


@pytest.mark.parametrize("architecture", ["dncnn", "ffdnet"])
def test_a_few_iterations_reduce_the_loss_and_write_a_loadable_checkpoint(tmp_path, architecture):
    config = DenoiserConfig(
        architecture=architecture,
        iterations=60,
        sigma_min=25,
        sigma_max=25,
        learning_rate=3e-3,
        **{**TINY, "batch_size": 16},
    )
    model, log, seconds = train_denoiser(config, log_every=20, progress=False)
    assert isinstance(model, DnCNN if architecture == "dncnn" else FFDNet)
    assert log.iterations == [20, 40, 60] and seconds > 0
    assert log.loss[-1] < log.loss[0], log.loss
    path = tmp_path / "tiny.pt"
    save_checkpoint(path, model, config, log, seconds, "cpu", "test")
    loaded = load_denoiser(path)
    noisy = torch.rand(1, 1, 24, 24)
    run = training.run_model
    torch.testing.assert_close(run(loaded.model, noisy, 25.0), run(model, noisy, 25.0))
    assert loaded.config == config and loaded.log == log
    with pytest.raises(FileNotFoundError, match="python -m course_utils.denoiser_training"):
        load_denoiser(tmp_path / "missing.pt")


def test_an_interrupted_run_resumes_to_the_same_weights(tmp_path, monkeypatch):
    config = DenoiserConfig(iterations=12, **TINY)
    uninterrupted, log, _ = train_denoiser(config, log_every=4, progress=False)
    state = tmp_path / "run.state.pt"
    draws = {"count": 0}
    real_noise = training.add_gaussian_noise

    def noise_then_stop(*args, **kwargs):
        draws["count"] += 1
        if draws["count"] == 9:  # the validation draw, then iterations 1-7; stop in iteration 8
            raise KeyboardInterrupt
        return real_noise(*args, **kwargs)

    monkeypatch.setattr(training, "add_gaussian_noise", noise_then_stop)
    with pytest.raises(KeyboardInterrupt):
        train_denoiser(config, log_every=4, progress=False, state_path=state, save_every=3)
    assert torch.load(state, weights_only=True)["iteration"] == 6
    monkeypatch.setattr(training, "add_gaussian_noise", real_noise)
    # resumed with another --log-every: the curve keeps the spacing it started with
    resumed, resumed_log, seconds = train_denoiser(
        config, log_every=5, progress=False, state_path=state, save_every=3
    )
    for (name, expected), actual in zip(
        uninterrupted.state_dict().items(), resumed.state_dict().values()
    ):
        assert torch.equal(expected, actual), f"{name} differs after resuming"
    assert resumed_log == log and seconds > 0
    other = dataclasses.replace(config, seed=1)
    with pytest.raises(ValueError, match="another configuration"):
        train_denoiser(other, progress=False, state_path=state)


def test_bad_settings_are_refused_with_what_was_expected():
    with pytest.raises(ValueError, match="iterations and batch_size must be positive"):
        train_denoiser(DenoiserConfig(iterations=0, **TINY), progress=False)
    with pytest.raises(ValueError, match="0 <= sigma_min <= sigma_max"):
        train_denoiser(
            DenoiserConfig(iterations=1, sigma_min=30, sigma_max=20, **TINY), progress=False
        )
    with pytest.raises(ValueError, match="held out"):
        train_denoiser(
            DenoiserConfig(iterations=1, **{**TINY, "images": ("brick", "camera")}), progress=False
        )
    with pytest.raises(ValueError, match="unknown architecture 'unet'"):
        training.build_model(DenoiserConfig(architecture="unet"))


def test_training_command_writes_a_checkpoint_that_records_how_it_was_made(tmp_path, capsys):
    out = tmp_path / "cli.pt"
    args = [
        "--architecture",
        "dncnn",
        "--depth",
        "3",
        "--channels",
        "4",
        "--iterations",
        "3",
        "--batch-size",
        "2",
        "--float32",
        "--images",
        "brick",
        "moon",
        "--device",
        "cpu",
        "--out",
        str(out),
    ]
    assert training.main(args) == 0
    loaded = load_denoiser(out)
    assert (
        loaded.config.depth == 3 and loaded.config.iterations == 3 and loaded.log.iterations == [3]
    )
    assert not loaded.config.bf16 and loaded.config.images == ("brick", "moon")
    assert loaded.trained["command"] == "python -m course_utils.denoiser_training " + " ".join(args)
    assert "validation PSNR at sigma 25" in capsys.readouterr().out
    assert not (tmp_path / "cli.pt.resume").exists(), "a finished run leaves only its checkpoint"
    second = args[: args.index("--iterations")] + [
        "--iterations",
        "2",
        "--init-from",
        str(out),
        "--out",
        str(out),
    ]
    assert training.main(second) == 0
    phases = load_denoiser(out).phases
    assert [config.iterations for config, _ in phases] == [3, 2] and phases[1][0].init_from == str(
        out
    )
    assert "continuing" in capsys.readouterr().out


@pytest.mark.parametrize("path", [DNCNN_CHECKPOINT, FFDNET_CHECKPOINT], ids=["dncnn", "ffdnet"])
def test_the_shipped_checkpoints_record_commands_that_repeat_every_phase(path):
    checkpoint = load_denoiser(path)
    for number, (config, trained) in enumerate(checkpoint.phases, start=1):
        args = training.build_parser().parse_args(trained["command"].split()[3:])
        assert args.out == path.relative_to(REPO), f"phase {number} wrote {args.out}"
        assert training.config_from_args(args) == config, (
            f"{path.name}, phase {number}: `{trained['command']}` asks for another configuration"
        )


def test_a_second_phase_continues_a_checkpoint_and_keeps_every_phase(tmp_path, monkeypatch):
    first = DenoiserConfig(iterations=8, **TINY)
    model, log, seconds = train_denoiser(first, log_every=4, progress=False)
    parent = tmp_path / "phase1.pt"
    save_checkpoint(parent, model, first, log, seconds, "cpu", "phase one")
    second = DenoiserConfig(
        iterations=6,
        seed=1,
        learning_rate=1e-4,
        init_from=str(parent),
        **{**TINY, "patch_size": 32},
    )
    # the second phase starts from the first one's weights: with a zero learning rate it keeps them
    frozen, _, _ = train_denoiser(
        dataclasses.replace(second, learning_rate=0.0, final_learning_rate=0.0),
        log_every=3,
        progress=False,
    )
    noisy = torch.rand(2, 1, 32, 32)
    # batch norm's running statistics still move in a frozen run: compare the weights themselves
    for name, weight in model.state_dict().items():
        if "running" not in name and "num_batches" not in name:
            assert torch.equal(weight, frozen.state_dict()[name]), (
                f"{name} did not start from the checkpoint"
            )
    continued, continued_log, continued_seconds = train_denoiser(
        second, log_every=3, progress=False
    )
    assert continued_log.iterations == [4, 8, 11, 14], (
        "the second phase's iterations count on from the first's"
    )
    assert continued_log.phase_starts == [0, 8] and continued_log.val_psnr[:2] == log.val_psnr
    assert [phase["trained"]["command"] for phase in continued_log.earlier] == ["phase one"]
    child = tmp_path / "phase2.pt"
    save_checkpoint(child, continued, second, continued_log, continued_seconds, "cpu", "phase two")
    loaded = load_denoiser(child)
    assert [config for config, _ in loaded.phases] == [first, second]
    assert loaded.seconds == pytest.approx(seconds + continued_seconds)
    assert loaded.patches == 8 * 4 + 6 * 4 and loaded.pixels == 8 * 4 * 24**2 + 6 * 4 * 32**2
    run = training.run_model
    torch.testing.assert_close(run(loaded.model, noisy, 25.0), run(continued, noisy, 25.0))
    # resuming a second phase needs only its state: here --out has replaced the first phase's file
    state = tmp_path / "phase2.pt.resume"
    real_noise = training.add_gaussian_noise
    draws = {"count": 0}

    def noise_then_stop(*args, **kwargs):
        draws["count"] += 1
        if draws["count"] == 6:
            raise KeyboardInterrupt
        return real_noise(*args, **kwargs)

    monkeypatch.setattr(training, "add_gaussian_noise", noise_then_stop)
    with pytest.raises(KeyboardInterrupt):
        train_denoiser(second, log_every=3, progress=False, state_path=state, save_every=2)
    monkeypatch.setattr(training, "add_gaussian_noise", real_noise)
    parent.write_bytes(child.read_bytes())
    resumed, resumed_log, _ = train_denoiser(second, log_every=3, progress=False, state_path=state)
    for (name, expected), actual in zip(
        continued.state_dict().items(), resumed.state_dict().values()
    ):
        assert torch.equal(expected, actual), f"{name} differs after resuming the second phase"
    assert resumed_log == continued_log


def test_a_second_phase_needs_the_same_network():
    with pytest.raises(FileNotFoundError, match="no denoiser checkpoint"):
        train_denoiser(DenoiserConfig(iterations=1, init_from="missing.pt", **TINY), progress=False)
    wider = DenoiserConfig(
        iterations=1, init_from=str(DNCNN_CHECKPOINT), **{**TINY, "architecture": "dncnn"}
    )
    with pytest.raises(ValueError, match="continue with the same network"):
        train_denoiser(wider, progress=False)
