"""Time course_utils.summary's operator-level count against torchinfo and FlopCounterMode.

    python benchmarks/summary_speed.py [--model resnet152] [--repeats 5] [--device cpu] [--threads 1]

summarize sends every ATen operator of the pass through a dispatch mode (to count weights
used outside their module's forward, and attention); the issue that introduced it requires
it to stay no slower than torchinfo on ResNet-152, the default model. Prints, for each tool,
the median wall time and the median CPU time of the process (steadier on a shared machine),
then what each counted. The tools run in turn, repeat after repeat. Other torchvision
models: --model vit_b_16, --model swin_t; --threads 1 for steadier CPU times. Not a test:
timings depend on the machine.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torchinfo
import torchvision
from torch.utils.flop_counter import FlopCounterMode

from course_utils.device import get_device
from course_utils.summary import summarize


def medians(tools: dict, repeats: int, device: torch.device) -> dict:
    """Median wall and CPU seconds of each tool, run in turn (round robin)."""
    for fn in tools.values():
        fn()  # warm-up: first calls pay for allocator and kernel set-up
    wall = {name: [] for name in tools}
    cpu = {name: [] for name in tools}
    for _ in range(repeats):
        for name, fn in tools.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            fn()
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            wall[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
    return {
        name: (statistics.median(wall[name]), statistics.median(cpu[name]))
        for name in tools
    }


def flop_counter_macs(model: torch.nn.Module, x: torch.Tensor) -> int:
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    return counter.get_total_flops() // 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet152")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--device", default=None, help="default: get_device()"
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads"
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device) if args.device else get_device()
    model = torchvision.models.get_model(args.model, weights=None)
    model = model.to(device).eval()
    shape = (1, 3, 224, 224)
    x = torch.randn(shape, device=device)

    def plain() -> None:
        with torch.no_grad():
            model(x)

    tools = {
        "plain forward pass (no_grad)": plain,
        "course_utils.summary.summarize": lambda: summarize(model, input=x),
        "torchinfo.summary": lambda: torchinfo.summary(
            model, input_data=x, verbose=0
        ),
        "torch FlopCounterMode": lambda: flop_counter_macs(model, x),
    }
    times = medians(tools, args.repeats, device)
    ours = summarize(model, input=x)
    theirs = torchinfo.summary(model, input_data=x, verbose=0)

    print(
        f"{args.model}, input {shape}, device {device}, "
        f"torch threads {torch.get_num_threads()}, median of {args.repeats}"
    )
    print(f"  {'':32} {'wall ms':>9} {'CPU ms':>9}")
    for name, (wall, cpu) in times.items():
        print(f"  {name:32} {wall * 1e3:9.1f} {cpu * 1e3:9.1f}")
    ratio = (
        times["torchinfo.summary"][0]
        / times["course_utils.summary.summarize"][0]
    )
    print(f"  wall-time ratio torchinfo / summarize: {ratio:.2f}")
    print(
        f"  parameters: {ours.total_params:,} (summarize), "
        f"{theirs.trainable_params:,} (torchinfo)"
    )
    print(
        f"  MACs: {ours.total_macs:,} + {ours.total_attention_macs:,} attention "
        f"(summarize), {flop_counter_macs(model, x):,} (FlopCounterMode, "
        f"fused attention paths uncounted), {theirs.total_mult_adds:,} "
        "(torchinfo mult-adds: modules' own forward, bias included)"
    )
    if ours.total_params != theirs.trainable_params:
        raise SystemExit("parameter counts differ")


if __name__ == "__main__":
    main()
