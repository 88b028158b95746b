"""Time texture synthesis and style transfer (chapter 7) against the chapter's goals.

    python benchmarks/style_timing.py [--device cpu|cuda] [--evaluations N] [--sizes 256 512]

Goals: a 256 px result on 2 CPU cores in at most 60 s; 512 px on a GPU in at most 10 s for
300 L-BFGS evaluations. For each extractor (the random multi-scale features and VGG-19) and
size, runs a texture synthesis (brick) and a style transfer (chelsea + immunohistochemistry)
with `course_utils.synthesis.synthesize` and prints the wall time. VGG-19 is timed with its
ImageNet weights when they are in the torch hub cache and with random weights otherwise:
the cost of a forward and backward pass does not depend on the weight values. Not a test.
"""

from __future__ import annotations

import argparse

import torch
import torchvision

from course_utils.data import center_crop, load_image
from course_utils.device import get_device
from course_utils.features import (
    VGG_CONTENT_LAYER,
    VGG_STYLE_LAYERS,
    RandomMultiScaleFeatures,
    VGGFeatures,
    load_vgg19_features,
)
from course_utils.style import ContentLoss, StyleLoss
from course_utils.synthesis import image_to_tensor, noise_like, synthesize


def vgg19_extractor() -> tuple[VGGFeatures, str]:
    try:
        return load_vgg19_features(allow_download=False)
    except RuntimeError:
        features = torchvision.models.vgg19().features
        return VGGFeatures(
            features, (*VGG_STYLE_LAYERS, VGG_CONTENT_LAYER)
        ), "VGG-19 with random weights (same cost)"


def run(
    extractor,
    style_layers,
    content_layer,
    size: int,
    evaluations: int,
    device: torch.device,
) -> dict[str, float]:
    texture = center_crop(
        image_to_tensor(load_image("brick", verbose=False), size), size
    ).to(device)
    content = center_crop(
        image_to_tensor(load_image("chelsea", verbose=False), size), size
    ).to(device)
    style_image = image_to_tensor(
        load_image("immunohistochemistry", verbose=False), size
    ).to(device)
    weights = {name: 1.0 for name in style_layers}
    with torch.no_grad():
        texture_loss = StyleLoss(extractor(texture), weights)
        style_loss = StyleLoss(extractor(style_image), weights)
        content_loss = ContentLoss(extractor(content), content_layer)
    synthesize(
        extractor,
        noise_like(texture),
        style=texture_loss,
        beta=1e6,
        evaluations=3,
        progress=False,
    )  # warm-up
    texture_run = synthesize(
        extractor,
        noise_like(texture),
        style=texture_loss,
        beta=1e6,
        evaluations=evaluations,
        progress=False,
    )
    transfer_run = synthesize(
        extractor,
        content,
        style=style_loss,
        content=content_loss,
        beta=1e9,
        evaluations=evaluations,
        progress=False,
    )
    return {
        "texture": texture_run.seconds,
        "transfer": transfer_run.seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--device",
        default=None,
        help="default: course_utils.device.get_device()",
    )
    parser.add_argument(
        "--evaluations",
        type=int,
        default=None,
        help="default: 100 on CPU, 300 on a GPU",
    )
    parser.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        default=None,
        help="default: 256 on CPU, 256 512 on a GPU",
    )
    parser.add_argument(
        "--skip-vgg",
        action="store_true",
        help="time only the random features",
    )
    args = parser.parse_args()
    device = torch.device(args.device) if args.device else get_device()
    gpu = device.type == "cuda"
    evaluations = args.evaluations or (300 if gpu else 100)
    sizes = args.sizes or ([256, 512] if gpu else [256])
    print(
        f"device {device}, {torch.get_num_threads()} CPU threads, {evaluations} L-BFGS evaluations per run"
    )

    random_features = RandomMultiScaleFeatures().to(device)
    extractors = [
        (
            "random multi-scale",
            random_features,
            random_features.layers,
            "s1k5",
        )
    ]
    if not args.skip_vgg:
        vgg, description = vgg19_extractor()
        print(f"VGG-19: {description}")
        extractors.append(
            ("VGG-19", vgg.to(device), VGG_STYLE_LAYERS, VGG_CONTENT_LAYER)
        )
    goal = 10.0 if gpu else 60.0
    print(
        f"\n{'extractor':<20}{'size':>6}{'texture s':>12}{'transfer s':>12}{'s / eval':>10}   goal <= {goal:.0f} s"
    )
    for name, extractor, layers, content_layer in extractors:
        for size in sizes:
            seconds = run(
                extractor, layers, content_layer, size, evaluations, device
            )
            per_eval = seconds["texture"] / evaluations
            verdict = "met" if max(seconds.values()) <= goal else "missed"
            print(
                f"{name:<20}{size:>6}{seconds['texture']:>12.1f}{seconds['transfer']:>12.1f}{per_eval:>10.3f}   {verdict}"
            )


if __name__ == "__main__":
    main()
