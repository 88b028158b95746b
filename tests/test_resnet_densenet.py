"""course_utils.resnet and course_utils.densenet against torchvision's models and the channel
arithmetic."""

import pytest
import torch
import torchvision
from torch import nn

from course_utils.densenet import DenseBlock, DenseNet, Transition
from course_utils.resnet import (
    BasicBlock,
    Bottleneck,
    PreActBlock,
    SmallResNet,
    resnet18,
    resnet34,
    resnet50,
)


@pytest.mark.parametrize(
    "ours, name",
    [
        (resnet18, "resnet18"),
        (resnet34, "resnet34"),
        (resnet50, "resnet50"),
        (DenseNet, "densenet121"),
    ],
)
def test_torchvision_state_dict_loads_and_gives_the_same_output(ours, name):
    torch.manual_seed(0)
    theirs = torchvision.models.get_model(name).eval()
    mine = ours().eval()
    assert sum(p.numel() for p in mine.parameters()) == sum(p.numel() for p in theirs.parameters())
    mine.load_state_dict(theirs.state_dict())  # strict: every name and shape must match
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(mine(x), theirs(x), rtol=0, atol=0)


def test_basic_block_uses_a_projection_only_when_the_shape_changes():
    assert BasicBlock(16, 16).downsample is None
    block = BasicBlock(16, 32, stride=2)
    assert isinstance(block.downsample[0], nn.Conv2d) and block.downsample[0].stride == (2, 2)
    assert block(torch.randn(2, 16, 8, 8)).shape == (2, 32, 4, 4)
    assert BasicBlock(16, 32, stride=2, residual=False).downsample is None


def test_identity_block_adds_its_input():
    block = BasicBlock(4, 4).eval()
    with torch.no_grad():
        block.bn2.weight.zero_()  # the residual branch outputs bn2's bias = 0
        x = torch.rand(1, 4, 5, 5)
        assert torch.equal(block(x), torch.relu(x))
        plain = BasicBlock(4, 4, residual=False).eval()
        plain.bn2.weight.zero_()
        assert torch.equal(plain(x), torch.zeros_like(x))


def test_bottleneck_and_preactivation_shapes():
    assert Bottleneck(64, 64)(torch.randn(1, 64, 8, 8)).shape == (1, 256, 8, 8)
    assert Bottleneck(256, 128, stride=2)(torch.randn(1, 256, 8, 8)).shape == (1, 512, 4, 4)
    pre = PreActBlock(8, 8).eval()
    with torch.no_grad():
        pre.conv2.weight.zero_()
        x = torch.randn(1, 8, 4, 4)
        assert torch.equal(pre(x), x), (
            "a pre-activation block with a zero branch is the identity (no ReLU after the sum)"
        )
    assert PreActBlock(8, 16, stride=2)(torch.randn(1, 8, 4, 4)).shape == (1, 16, 2, 2)


def test_dense_block_and_transition_channel_arithmetic():
    block = DenseBlock(num_layers=4, in_channels=10, growth_rate=6)
    x = torch.randn(2, 10, 8, 8)
    y = block(x)
    assert y.shape == (2, 10 + 4 * 6, 8, 8) and block.out_channels == 34
    assert torch.equal(y[:, :10], x), (
        "a dense block passes its input through unchanged in its first channels"
    )
    assert Transition(34, 17)(y).shape == (2, 17, 4, 4)
    net = DenseNet(
        growth_rate=12, block_config=(2, 3), num_init_features=16, compression=0.5, num_classes=5
    )
    # 16 -> +2*12 = 40 -> transition 20 -> +3*12 = 56 channels into the classifier
    assert net.classifier.in_features == 56
    assert net(torch.randn(1, 3, 32, 32)).shape == (1, 5)


@pytest.mark.parametrize("blocks", [1, 2, 8])
def test_small_resnet_depth_and_plain_twin(blocks):
    residual, plain = SmallResNet(blocks), SmallResNet(blocks, residual=False)
    convs = [m for m in plain.modules() if isinstance(m, nn.Conv2d)]
    linears = [m for m in plain.modules() if isinstance(m, nn.Linear)]
    assert len(convs) + len(linears) == residual.depth == 4 * blocks + 2
    extra = sum(p.numel() for p in residual.parameters()) - sum(
        p.numel() for p in plain.parameters()
    )
    assert extra == 8 * 16 + 2 * 16, (
        "the residual net adds only the one projection shortcut (1x1 conv + BN)"
    )
    assert residual(torch.randn(3, 1, 28, 28)).shape == (3, 10)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="4 stages"):
        __import__("course_utils.resnet", fromlist=["ResNet"]).ResNet(BasicBlock, [2, 2, 2])
    with pytest.raises(ValueError, match="compression"):
        DenseNet(compression=0.0)
    with pytest.raises(ValueError, match="blocks_per_stage"):
        SmallResNet(0)
