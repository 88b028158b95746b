"""course_utils.summary against torchinfo (parameters) and fvcore (conv and linear MACs)."""

import warnings

import pytest
import torch
import torchinfo
import torchvision
from fvcore.nn import FlopCountAnalysis
from torch import nn

from course_utils.summary import summarize

# (torchvision name, input side, constructor arguments)
REFERENCE_MODELS = [
    ("alexnet", 227, {}),
    ("vgg16", 224, {}),
    ("resnet50", 224, {}),
    ("densenet121", 224, {}),
    ("googlenet", 224, {"aux_logits": False, "init_weights": False}),
    ("mobilenet_v2", 224, {}),
]
# fvcore's names for the conv and linear operators; the rest (batch_norm, pooling) are
# counted by fvcore but are not MACs under the course's convention
FVCORE_MAC_OPERATORS = ("conv", "linear", "addmm", "matmul", "bmm")


def fvcore_conv_linear_macs(model: nn.Module, x: torch.Tensor) -> int:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        analysis = FlopCountAnalysis(model, x)
        analysis.unsupported_ops_warnings(False)
        analysis.uncalled_modules_warnings(False)
        by_operator = analysis.by_operator()
    return sum(count for op, count in by_operator.items() if op in FVCORE_MAC_OPERATORS)


@pytest.fixture(scope="module", params=REFERENCE_MODELS, ids=[m[0] for m in REFERENCE_MODELS])
def reference_model(request):
    name, side, kwargs = request.param
    torch.manual_seed(0)
    return torchvision.models.get_model(name, weights=None, **kwargs).eval(), (1, 3, side, side)


def test_parameters_equal_torchinfo(reference_model):
    model, shape = reference_model
    ours = summarize(model, shape)
    theirs = torchinfo.summary(model, input_size=shape, verbose=0)
    assert ours.total_params == theirs.trainable_params
    # every parameter is held by a leaf layer in these models, so the rows add up to the total
    assert ours.layers["params"].sum() == ours.total_params


def test_conv_and_linear_macs_equal_fvcore(reference_model):
    model, shape = reference_model
    x = torch.randn(shape)
    assert summarize(model, input=x).total_macs == fvcore_conv_linear_macs(model, x)


def test_alexnet_rows_follow_the_lecture_formulas():
    model = torchvision.models.alexnet().eval()
    rows = summarize(model, (1, 3, 227, 227)).layers.set_index("layer")
    conv1 = rows.loc["features.0"]
    assert conv1["output_shape"] == (1, 64, 56, 56)
    assert conv1["memory_kb"] == 56 * 56 * 64 * 4 / 1024
    assert conv1["params"] == 64 * 11 * 11 * 3 + 64
    assert conv1["macs"] == (56 * 56 * 64) * (11 * 11 * 3)
    assert rows.loc["features.2", "macs"] == 0  # pooling
    assert rows.loc["classifier.1", "macs"] == 9216 * 4096


def test_batch_scales_macs_and_memory_not_parameters():
    model = torchvision.models.resnet18().eval()
    one = summarize(model, (1, 3, 64, 64))
    three = summarize(model, (3, 3, 64, 64))
    assert three.total_params == one.total_params
    assert three.total_macs == 3 * one.total_macs
    assert three.total_memory_kb == pytest.approx(3 * one.total_memory_kb)
    assert three.total_flops == 2 * three.total_macs


def test_mode_and_running_statistics_are_left_alone():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU()).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    summarize(model, (2, 3, 8, 8))
    assert model.training
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_shared_module_counts_parameters_once_and_macs_per_call():
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(10, 10)

        def forward(self, x):
            return self.fc(self.fc(x))

    summary = summarize(Twice(), (1, 10))
    assert list(summary.layers["params"]) == [110, 0]
    assert summary.total_macs == 2 * 100
    assert summary.total_params == 110


def test_transposed_and_grouped_convolutions():
    up = nn.ConvTranspose2d(8, 4, kernel_size=2, stride=2)
    x = torch.randn(2, 8, 5, 5)
    assert summarize(up, input=x).total_macs == fvcore_conv_linear_macs(up, x) == x.numel() * 4 * 2 * 2
    depthwise = nn.Conv2d(6, 6, 3, padding=1, groups=6, bias=False)
    assert summarize(depthwise, (1, 6, 10, 10)).total_macs == 6 * 10 * 10 * 9


def test_table_has_a_total_row_and_renders():
    summary = summarize(nn.Sequential(nn.Flatten(), nn.Linear(4, 2)), (5, 4))
    table = summary.table()
    assert list(table["layer"]) == ["0", "1", "Total"]
    assert table.iloc[-1]["params"] == 10
    assert "Total" in summary._repr_html_() and "Total" in str(summary)


@pytest.mark.parametrize("bad, message", [((3, 0, 4), "input_size"), ("224", "input_size"), ((), "input_size")])
def test_bad_input_size_says_what_is_expected(bad, message):
    with pytest.raises(ValueError, match=message):
        summarize(nn.Linear(2, 2), bad)


def test_needs_exactly_one_input_and_a_module():
    with pytest.raises(ValueError, match="exactly one"):
        summarize(nn.Linear(2, 2))
    with pytest.raises(TypeError, match="nn.Module"):
        summarize(lambda x: x, (1, 2))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_runs_on_the_gpu():
    model = torchvision.models.resnet18().cuda().eval()
    assert summarize(model, (2, 3, 64, 64)).total_macs == summarize(model.cpu(), (2, 3, 64, 64)).total_macs
