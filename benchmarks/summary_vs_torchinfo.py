"""Time course_utils.summary against torchinfo on ResNet-152 (chapter 2's tool).

    python benchmarks/summary_vs_torchinfo.py [--repeats 5] [--device cpu]

Prints the median wall time of each tool side by side, and checks that they count the same
parameters. Not a test: timings depend on the machine.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torchinfo
import torchvision

from course_utils.device import get_device
from course_utils.summary import summarize


def median_seconds(fn, repeats: int) -> float:
    fn()  # warm-up: first calls pay for allocator and kernel set-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--device",
        default=None,
        help="default: course_utils.device.get_device()",
    )
    args = parser.parse_args()
    device = torch.device(args.device) if args.device else get_device()
    model = torchvision.models.resnet152().to(device).eval()
    shape = (1, 3, 224, 224)

    with torch.no_grad():
        forward = median_seconds(
            lambda: model(torch.randn(shape, device=device)), args.repeats
        )
    ours = median_seconds(lambda: summarize(model, shape), args.repeats)
    theirs = median_seconds(
        lambda: torchinfo.summary(
            model, input_size=shape, device=device, verbose=0
        ),
        args.repeats,
    )
    params_ours = summarize(model, shape).total_params
    params_theirs = torchinfo.summary(
        model, input_size=shape, device=device, verbose=0
    ).total_params

    print(
        f"ResNet-152, input {shape}, device {device}, torch threads {torch.get_num_threads()}, median of {args.repeats}"
    )
    print(
        f"  plain forward pass (no_grad):   {forward * 1e3:8.1f} ms  (the floor for any hook-based tool)"
    )
    print(f"  course_utils.summary.summarize: {ours * 1e3:8.1f} ms")
    print(f"  torchinfo.summary:              {theirs * 1e3:8.1f} ms")
    print(f"  ratio (torchinfo / course):     {theirs / ours:8.2f}")
    print(
        f"  parameters: {params_ours:,} (course) vs {params_theirs:,} (torchinfo)"
    )
    if params_ours != params_theirs:
        raise SystemExit("parameter counts differ")


if __name__ == "__main__":
    main()
