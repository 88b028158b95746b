"""course_utils.summary against torchinfo (parameters), fvcore and torch's FlopCounterMode
(MACs)."""

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchinfo
import torchvision
from fvcore.nn import FlopCountAnalysis
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from course_utils.summary import ModelSummary, summarize

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


def fvcore_by_operator(model: nn.Module, x: torch.Tensor) -> dict[str, int]:
    """fvcore's MACs per operator (it counts one per multiply-accumulate, from a jit trace)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        analysis = FlopCountAnalysis(model, x)
        analysis.unsupported_ops_warnings(False)
        analysis.uncalled_modules_warnings(False)
        return dict(analysis.by_operator())


def fvcore_conv_linear_macs(model: nn.Module, x: torch.Tensor) -> int:
    return sum(
        count for op, count in fvcore_by_operator(model, x).items() if op in FVCORE_MAC_OPERATORS
    )


def flop_counter_macs(model: nn.Module, x: torch.Tensor) -> dict[str, int]:
    """torch's FlopCounterMode, per ATen operator, in MACs (it reports FLOPs = 2 x MACs).

    With the fused attention fast path off, as in summarize: FlopCounterMode does not count
    the fused kernel. On a CPU it has no formula for the attention kernel either, so any
    attention it reports comes from explicit matrix products (bmm).
    """
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(x)
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
    return {
        str(op).removeprefix("aten."): flops // 2
        for op, flops in counter.get_flop_counts()["Global"].items()
    }


def assert_each_parameter_in_one_row(model: nn.Module, summary) -> None:
    """Rows add up to the total, and each module's rows hold exactly the parameters it holds
    first."""
    layers = summary.layers
    assert (
        layers["params"].sum() == summary.total_params == sum(p.numel() for p in model.parameters())
    )
    seen = set()
    for name, module in model.named_modules():
        own = [p for p in module.parameters(recurse=False) if id(p) not in seen]
        seen.update(id(p) for p in own)
        in_rows = layers.loc[layers["layer"] == (name or type(module).__name__), "params"].sum()
        assert in_rows == sum(p.numel() for p in own), name


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
    assert_each_parameter_in_one_row(model, ours)
    assert ours.total_attention_macs == 0


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
    assert (
        summarize(up, input=x).total_macs == fvcore_conv_linear_macs(up, x) == x.numel() * 4 * 2 * 2
    )
    depthwise = nn.Conv2d(6, 6, 3, padding=1, groups=6, bias=False)
    assert summarize(depthwise, (1, 6, 10, 10)).total_macs == 6 * 10 * 10 * 9


def test_table_has_a_total_row_and_renders():
    summary = summarize(nn.Sequential(nn.Flatten(), nn.Linear(4, 2)), (5, 4))
    table = summary.table()
    assert list(table["layer"]) == ["0", "1", "Total"]
    assert table.iloc[-1]["params"] == 10
    assert "Total" in summary._repr_html_() and "Total" in str(summary)
    # the attention column is always in the data, and displayed only when a model has attention
    assert "attention_macs" in table.columns
    assert "attention_macs" not in str(summary) and "attention_macs" not in summary._repr_html_()


@pytest.mark.parametrize(
    "bad, message",
    [
        ((3, 0, 4), "input_size"),
        ("224", "input_size"),
        ((), "input_size"),
        ((1, 2.0), "input_size.*entry 1 is 2.0"),
        (224, "input_size"),
        ((1, True), "input_size.*entry 1"),
    ],
)
def test_bad_input_size_says_what_is_expected(bad, message):
    with pytest.raises(ValueError, match=message):
        summarize(nn.Linear(2, 2), bad)


def test_input_size_of_numpy_integers_is_accepted():
    model = nn.Linear(2, 3)
    assert (
        summarize(model, np.array([4, 2])).total_macs
        == summarize(model, (np.int64(4), 2)).total_macs
        == 4 * 2 * 3
    )


def test_a_wrong_rank_names_input_size():
    model = torchvision.models.resnet18()
    with pytest.raises(ValueError, match=r"input_size=\(3, 32, 32\).*batch dimension") as raised:
        summarize(model, (3, 32, 32))
    assert raised.value.__cause__ is not None  # the model's own error is chained


def _hooks(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


def test_failure_leaves_no_hook_and_every_mode_as_it_was():
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Dropout(), nn.Flatten(), nn.Linear(4 * 6 * 6, 2)
    )
    model.train()
    model[1].eval()  # mixed modes: a frozen batch norm in a training model
    modes = [m.training for m in model.modules()]
    summarize(model, (1, 3, 8, 8))
    assert [m.training for m in model.modules()] == modes and _hooks(model) == 0
    with pytest.raises(ValueError, match="input_size"):
        summarize(model, (1, 3, 9, 9))  # the linear layer gets the wrong width
    assert [m.training for m in model.modules()] == modes and _hooks(model) == 0
    assert torch.backends.mha.get_fastpath_enabled()


def test_scripted_and_traced_modules_are_refused_before_any_hook():
    plain = nn.Linear(2, 2)
    with warnings.catch_warnings():  # torch deprecates TorchScript
        warnings.simplefilter("ignore", FutureWarning)
        scripted = torch.jit.script(nn.Linear(2, 2))
        traced = torch.jit.trace(nn.Linear(2, 2), torch.randn(1, 2))
    model = nn.Sequential(plain, scripted)
    with pytest.raises(
        TypeError, match=r"submodule '1' is a TorchScript module.*Pass the Python nn.Module"
    ):
        summarize(model, (1, 2))
    assert _hooks(plain) == 0
    with pytest.raises(TypeError, match="before scripting or tracing"):
        summarize(traced, (1, 2))


def test_the_global_random_state_is_untouched():
    class Noisy(nn.Module):  # draws random numbers in its forward pass
        def forward(self, x):
            return x + torch.rand_like(x)

    noisy, linear = nn.Sequential(nn.Linear(3, 3), Noisy()), nn.Linear(3, 3)
    before = torch.get_rng_state()
    summarize(noisy, (2, 3))
    assert torch.equal(torch.get_rng_state(), before)
    summarize(linear, (2, 3))
    assert torch.equal(torch.get_rng_state(), before)


class TinyAttention(nn.Module):
    """Windowed-attention style: the weights of two never-called Linear leaves are passed to
    F.linear, the attention is written with explicit matrix products, and the module holds a
    parameter itself."""

    def __init__(self, dim: int = 8, heads: int = 2):
        super().__init__()
        self.heads = heads
        self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        self.bias_table = nn.Parameter(torch.zeros(heads, 1, 1))

    def forward(self, x):
        b, n, d = x.shape
        q, k, v = (
            F.linear(x, self.qkv.weight, self.qkv.bias)
            .reshape(b, n, 3, self.heads, d // self.heads)
            .permute(2, 0, 3, 1, 4)
        )
        attention = (q @ k.transpose(-2, -1) + self.bias_table).softmax(-1)
        return F.linear(
            (attention @ v).transpose(1, 2).reshape(b, n, d), self.proj.weight, self.proj.bias
        )


class WithOddParameters(nn.Module):
    """A class token held by a non-leaf, a layer scale, tied weights and a leaf that is never
    called."""

    def __init__(self):
        super().__init__()
        self.cls_token = nn.Parameter(torch.zeros(1, 1, 8))
        self.attention = TinyAttention()
        self.a, self.b = nn.Linear(8, 8), nn.Linear(8, 8)
        self.b.weight = self.a.weight  # tied
        self.layer_scale = nn.Parameter(torch.ones(8))
        self.unused_head = nn.Linear(8, 5)

    def forward(self, x):
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)
        x = x + self.attention(x)
        return self.layer_scale * self.b(self.a(x))


def test_every_parameter_in_exactly_one_row_and_weights_counted_wherever_used():
    model = WithOddParameters().eval()
    x = torch.randn(2, 5, 8)
    summary = summarize(model, input=x)
    assert_each_parameter_in_one_row(model, summary)
    rows = summary.layers.set_index("layer")
    assert rows.loc["b", "params"] == 8  # its bias; the tied weight is in a's row
    assert (
        rows.loc["unused_head", "params"] == 5 * 8 + 5
        and rows.loc["unused_head", "input_shape"] is None
    )
    theirs = flop_counter_macs(model, x)
    assert summary.total_macs == theirs["addmm"] + theirs.get("mm", 0)
    assert summary.total_attention_macs == theirs["bmm"]
    assert (
        rows.loc["attention.qkv", "macs"] == 2 * 6 * 8 * 24
        and rows.loc["attention.proj", "macs"] == 2 * 6 * 8 * 8
    )
    assert rows.loc["attention", "attention_macs"] == summary.total_attention_macs
    assert "attention_macs" in str(summary)


def test_small_vision_transformer_against_fvcore():
    torch.manual_seed(0)
    model = torchvision.models.VisionTransformer(
        image_size=32, patch_size=8, num_layers=2, num_heads=4, hidden_dim=32, mlp_dim=64
    ).eval()
    x = torch.randn(2, 3, 32, 32)
    summary = summarize(model, input=x)
    theirs = fvcore_by_operator(model, x)
    assert summary.total_macs == theirs["conv"] + theirs["linear"]
    tokens = (32 // 8) ** 2 + 1
    assert (
        summary.total_attention_macs
        == 2 * len(model.encoder.layers) * tokens * tokens * 2 * model.hidden_dim
    )
    assert_each_parameter_in_one_row(model, summary)
    # the fused path is switched off only during the pass
    assert torch.backends.mha.get_fastpath_enabled()


def summarize_beside_references(model: nn.Module) -> tuple[ModelSummary, dict, dict]:
    """Summary, fvcore's and FlopCounterMode's counts of one 224 x 224 image; weight MACs agree
    with both."""
    x = torch.randn(1, 3, 224, 224)
    summary = summarize(model, input=x)
    fvcore_ops, torch_ops = fvcore_by_operator(model, x), flop_counter_macs(model, x)
    assert summary.total_macs == fvcore_ops["conv"] + fvcore_ops["linear"]
    assert summary.total_macs == torch_ops["convolution"] + torch_ops["addmm"] + torch_ops.get(
        "mm", 0
    )
    return summary, fvcore_ops, torch_ops


def test_vit_b_16_against_fvcore_and_flop_counter():
    torch.manual_seed(0)
    model = torchvision.models.vit_b_16().eval()
    summary, _, _ = summarize_beside_references(model)
    # neither reference counts CPU's fused attention kernel: Q K^T and A V, d_k + d_v = 2 x hidden
    # per pair
    tokens = (224 // model.patch_size) ** 2 + 1
    assert (
        summary.total_attention_macs
        == len(model.encoder.layers) * tokens * tokens * 2 * model.hidden_dim
    )
    assert_each_parameter_in_one_row(model, summary)


def test_swin_t_against_fvcore_and_flop_counter():
    torch.manual_seed(0)
    model = torchvision.models.swin_t().eval()
    summary, fvcore_ops, torch_ops = summarize_beside_references(model)
    # the windowed attention is written with matmul: both references see it
    assert summary.total_attention_macs == fvcore_ops["matmul"] == torch_ops["bmm"]
    assert_each_parameter_in_one_row(model, summary)


def test_computed_weights_count_as_the_layer_they_replace():
    class StandardizedConv(nn.Conv2d):
        def forward(self, x):
            w = (self.weight - self.weight.mean(dim=(1, 2, 3), keepdim=True)) / (
                self.weight.std() + 1e-5
            )
            return F.conv2d(x, w, self.bias, self.stride, self.padding)

    plain = summarize(nn.Conv2d(3, 8, 3), (1, 3, 10, 10))
    standardized = summarize(StandardizedConv(3, 8, 3), (1, 3, 10, 10))
    assert standardized.total_macs == plain.total_macs == 8 * 8 * 8 * 3 * 3 * 3
    normalized = summarize(nn.utils.parametrizations.weight_norm(nn.Linear(6, 4)), (5, 6))
    assert normalized.total_macs == 5 * 6 * 4 and normalized.total_attention_macs == 0
    assert normalized.layers["params"].sum() == normalized.total_params == 4 * 6 + 4 + 4


def test_lstm_counts_both_weight_matrices_per_step():
    model = nn.LSTM(8, 16)
    summary = summarize(model, (5, 3, 8))
    assert summary.total_macs == 5 * 3 * (model.weight_ih_l0.numel() + model.weight_hh_l0.numel())


def test_an_uncounted_product_operator_is_named_in_a_warning():
    class TimeConv(nn.Module):
        def __init__(self):
            super().__init__()
            self.weight, self.bias = (
                nn.Parameter(torch.randn(3, 4, 6)),
                nn.Parameter(torch.zeros(6)),
            )

        def forward(self, x):
            return torch.conv_tbc(x, self.weight, self.bias)

    with pytest.warns(UserWarning, match="conv_tbc"):
        summarize(TimeConv(), (7, 2, 4))


def test_needs_exactly_one_input_and_a_module():
    with pytest.raises(ValueError, match="exactly one"):
        summarize(nn.Linear(2, 2))
    with pytest.raises(TypeError, match="nn.Module"):
        summarize(lambda x: x, (1, 2))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_runs_on_the_gpu():
    model = torchvision.models.resnet18().cuda().eval()
    assert (
        summarize(model, (2, 3, 64, 64)).total_macs
        == summarize(model.cpu(), (2, 3, 64, 64)).total_macs
    )
