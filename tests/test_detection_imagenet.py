"""Chapter 9's library: digit canvases, mean average precision against COCO's evaluation,
ImageNet helpers."""

import numpy as np
import pytest
import torch
import torchvision

from course_utils import detection, imagenet


def source_digits(n: int = 50) -> tuple[torch.Tensor, torch.Tensor]:
    """Synthetic 28 x 28 'digits': a filled rectangle of ink at a known place (the canvas code
    only needs ink)."""
    images = torch.zeros(n, 1, 28, 28)
    images[:, :, 6:22, 9:19] = 1.0
    return images, torch.arange(n) % 10


def test_canvases_are_seeded_hold_the_requested_digits_and_box_their_ink():
    images, labels = source_digits()
    canvases = detection.make_canvases(
        images, labels, 40, size=56, digits=(0, 3), generator=torch.Generator().manual_seed(0)
    )
    again = detection.make_canvases(
        images, labels, 40, size=56, digits=(0, 3), generator=torch.Generator().manual_seed(0)
    )
    assert torch.equal(canvases.images, again.images) and all(
        torch.equal(a, b) for a, b in zip(canvases.boxes, again.boxes)
    )
    counts = [len(b) for b in canvases.boxes]
    assert set(counts) == {0, 1, 2, 3} and all(
        len(boxes) == len(labels) for boxes, labels in zip(canvases.boxes, canvases.labels)
    )
    assert (
        canvases.images.shape == (40, 1, 56, 56)
        and 0 <= canvases.images.min()
        and canvases.images.max() <= 1
    )
    for image, boxes in zip(canvases.images, canvases.boxes):
        ink = image[0] > 0.3
        inside = torch.zeros_like(ink)
        for x1, y1, x2, y2 in boxes.long().tolist():
            assert 0 <= x1 < x2 <= 56 and 0 <= y1 < y2 <= 56
            inside[y1:y2, x1:x2] = True
        assert not (ink & ~inside).any(), "every pixel of ink lies in some digit's box"
        if len(boxes) == 0:
            assert image.abs().sum() == 0, "an empty canvas is empty"
    with pytest.raises(ValueError, match="larger than the 30-pixel canvas"):
        detection.make_canvases(images, labels, 2, size=30, scale=(1.0, 1.2))


def random_detections(seed: int, images: int = 60, classes: int = 4):
    g = torch.Generator().manual_seed(seed)
    predictions, targets = [], []
    for _ in range(images):
        k = int(torch.randint(0, 4, (1,), generator=g))
        corner = torch.rand(k, 2, generator=g) * 40
        truth = torch.cat([corner, corner + 5 + torch.rand(k, 2, generator=g) * 15], dim=1)
        truth_labels = torch.randint(0, classes, (k,), generator=g)
        d = int(torch.randint(0, 7, (1,), generator=g))
        source = torch.randint(0, max(k, 1), (d,), generator=g)
        base = truth[source] if k else torch.rand(d, 4, generator=g) * 40
        boxes = base + torch.randn(d, 4, generator=g) * 3
        boxes = torch.cat(
            [
                torch.minimum(boxes[:, :2], boxes[:, 2:]),
                torch.maximum(boxes[:, :2], boxes[:, 2:]) + 1,
            ],
            dim=1,
        )
        labels = truth_labels[source] if k else torch.randint(0, classes, (d,), generator=g)
        wrong = torch.rand(d, generator=g) < 0.2
        labels = torch.where(wrong, torch.randint(0, classes, (d,), generator=g), labels)
        predictions.append({"boxes": boxes, "scores": torch.rand(d, generator=g), "labels": labels})
        targets.append({"boxes": truth, "labels": truth_labels})
    return predictions, targets


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("threshold", [0.5, 0.75])
def test_average_precision_equals_cocos_evaluation_through_torchmetrics(seed, threshold):
    from torchmetrics.detection import MeanAveragePrecision

    predictions, targets = random_detections(seed)
    reference = MeanAveragePrecision(
        iou_thresholds=[threshold],
        rec_thresholds=np.linspace(0, 1, 101).tolist(),
        class_metrics=True,
    )
    reference.update(predictions, targets)
    result = reference.compute()
    mean, per_class = detection.average_precision(predictions, targets, iou_threshold=threshold)
    assert mean == pytest.approx(float(result["map"]), abs=1e-6)
    assert [per_class[c] for c in sorted(per_class)] == pytest.approx(
        result["map_per_class"].tolist(), abs=1e-6
    )


def test_average_precision_of_perfect_and_of_useless_detections():
    _, targets = random_detections(0)
    perfect = [
        {"boxes": t["boxes"], "labels": t["labels"], "scores": torch.ones(len(t["labels"]))}
        for t in targets
    ]
    assert detection.average_precision(perfect, targets)[0] == pytest.approx(1.0)
    shifted = [{**p, "boxes": p["boxes"] + 100} for p in perfect]  # nowhere near the truth
    assert detection.average_precision(shifted, targets)[0] == 0.0
    with pytest.raises(ValueError, match="one entry per image"):
        detection.average_precision(perfect[:-1], targets)


def test_torchvision_weights_table_reads_the_enums_metadata():
    table = imagenet.torchvision_weights_table(("resnet18", "alexnet"))
    meta = torchvision.models.ResNet18_Weights.DEFAULT.meta
    assert table.loc["resnet18", "top-1 accuracy"] == meta["_metrics"]["ImageNet-1K"]["acc@1"]
    assert table.loc["resnet18", "GFLOPS"] == meta["_ops"]
    assert table.loc["alexnet", "parameters (M)"] == pytest.approx(
        sum(p.numel() for p in torchvision.models.alexnet().parameters()) / 1e6
    )


def test_imagenet_classifier_reads_the_torch_hub_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setenv("COURSE_ALLOW_DOWNLOAD", "0")
    with pytest.raises(RuntimeError, match="not in the torch hub cache"):
        imagenet.load_imagenet_classifier("resnet18", allow_download=False)
    weights = torchvision.models.ResNet18_Weights.DEFAULT
    checkpoint = imagenet.weights_checkpoint(weights)
    assert checkpoint == tmp_path / "hub" / "checkpoints" / "resnet18-f37072fd.pth"
    reference = torchvision.models.resnet18()
    marker = torch.randn(64, 3, 7, 7, generator=torch.Generator().manual_seed(3))
    # broadcast views keep the planted file small; only the first convolution is marked
    state = {
        name: t.new_full((1,), 0.01).expand_as(t) if t.dim() else t
        for name, t in reference.state_dict().items()
    }
    state["conv1.weight"] = marker
    checkpoint.parent.mkdir(parents=True)
    torch.save(state, checkpoint)
    classifier = imagenet.load_imagenet_classifier("resnet18", allow_download=False)
    torch.testing.assert_close(classifier.model.conv1.weight, marker)
    assert not classifier.model.training and len(classifier.categories) == imagenet.IMAGENET_CLASSES
    assert str(checkpoint) in classifier.description and "IMAGENET1K_V1" in classifier.description
    photo = torch.randint(0, 256, (3, 300, 400), dtype=torch.uint8)
    assert classifier.preprocess(photo).shape == (3, 224, 224)
