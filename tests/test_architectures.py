"""The lecture architectures against torchvision's and the lecture's own per-layer counts."""

import pytest
import torch
import torchinfo
import torchvision
from torch import nn

from course_utils.architectures import INCEPTION_3A, AlexNet, InceptionModule, LeNet5, vgg
from course_utils.summary import summarize


def weighted_params(model: nn.Module) -> list[int]:
    return [
        sum(p.numel() for p in m.parameters())
        for m in model.modules()
        if isinstance(m, (nn.Conv2d, nn.Linear))
    ]


def test_alexnet_matches_torchvision_and_the_lecture_geometry():
    ours, theirs = AlexNet(), torchvision.models.alexnet()
    assert weighted_params(ours) == weighted_params(theirs)
    rows = summarize(ours, (1, 3, 227, 227)).layers.set_index("layer")
    # the lecture's output volumes: 56x56x64, 27x27x64, 27x27x192, 13x13x192, 13x13x384, 6x6x256
    assert rows.loc["features.conv1", "output_shape"] == (1, 64, 56, 56)
    assert rows.loc["features.pool1", "output_shape"] == (1, 64, 27, 27)
    assert rows.loc["features.pool2", "output_shape"] == (1, 192, 13, 13)
    assert rows.loc["features.pool3", "output_shape"] == (1, 256, 6, 6)
    assert rows.loc["classifier.fc3", "output_shape"] == (1, 1000)


@pytest.mark.parametrize("name", ["vgg11", "vgg16", "vgg19"])
def test_vgg_loads_torchvision_weights_and_gives_the_same_output(name):
    torch.manual_seed(0)
    theirs = torchvision.models.get_model(name).eval()
    ours = vgg(name).eval()
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x))


def test_vgg7_has_the_lecture_count_layer_by_layer():
    model = vgg("vgg7")
    # lecture 002's per-layer counts and total
    lecture_layers = [896, 18_496, 73_856, 147_584, 295_168, 2_097_664, 513]
    assert weighted_params(model) == lecture_layers
    total = torchinfo.summary(model, input_size=(1, 3, 224, 224), verbose=0).total_params
    # the lecture prints 2,634,167 as the total: its own per-layer counts add up to 10 more
    assert total == sum(lecture_layers) == 2_634_167 + 10
    with torch.no_grad():
        assert model(torch.zeros(2, 3, 224, 224)).shape == (2, 1)
        assert model(torch.zeros(1, 3, 150, 150)).shape == (1, 1)  # global pooling to 4x4


def test_lenet5_geometry_and_count():
    model = LeNet5()
    shapes = summarize(model, (1, 1, 32, 32)).layers.set_index("layer")["output_shape"]
    # the lecture: 32x32 -> 28x28 -> 14x14 -> 10x10 -> 5x5, then fully connected to 10 outputs
    assert [shapes[f"features.{n}"][-1] for n in ("c1", "s2", "c3", "s4")] == [28, 14, 10, 5]
    assert shapes["classifier.output"] == (1, 10)
    assert (
        sum(p.numel() for p in model.parameters())
        == torchinfo.summary(model, (1, 1, 32, 32), verbose=0).total_params
    )


def test_inception_reductions_save_parameters_and_macs_with_the_same_output_size():
    reduced, naive = InceptionModule(**INCEPTION_3A), InceptionModule(**INCEPTION_3A, reduce=False)
    x = torch.randn(1, 192, 28, 28)
    with torch.no_grad():
        assert reduced(x).shape == (1, 256, 28, 28) == (1, reduced.out_channels, 28, 28)
        assert naive(x).shape == (1, 64 + 128 + 32 + 192, 28, 28)
    small, big = summarize(reduced, input=x), summarize(naive, input=x)
    assert small.total_params < big.total_params / 2
    assert small.total_macs < big.total_macs / 2


def test_bad_vgg_name_and_config():
    with pytest.raises(ValueError, match="expected one of"):
        vgg("vgg17")
    with pytest.raises(ValueError, match="positive channel counts"):
        vgg.__globals__["VGG"]([64, "P"])
