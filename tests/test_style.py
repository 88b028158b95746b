"""course_utils.style, .features and .synthesis against independent references: explicit sums,
torchvision's VGG-19, the hub cache."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torchvision
from torch import nn

from course_utils import features as extractors
from course_utils import synthesis
from course_utils.data import center_crop
from course_utils.features import (
    RandomMultiScaleFeatures,
    VGGFeatures,
    load_feature_extractor,
    vgg_layer_names,
)
from course_utils.style import (
    ContentLoss,
    StyleLoss,
    gram_matrix,
    style_layer_loss,
    total_variation,
)
from course_utils.synthesis import image_to_tensor, synthesize


def numpy_gram(fmap: np.ndarray) -> np.ndarray:
    n = fmap.shape[0]
    flat = fmap.reshape(n, -1)
    gram = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            gram[i, j] = sum(flat[i, k] * flat[j, k] for k in range(flat.shape[1]))
    return gram


def test_gram_matrix_equals_explicit_sums_per_image():
    features = torch.randn(
        3, 4, 5, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64
    )
    grams = gram_matrix(features)
    assert grams.shape == (3, 4, 4)
    for b in range(3):
        np.testing.assert_allclose(grams[b].numpy(), numpy_gram(features[b].numpy()), rtol=1e-12)


def test_gram_matrix_ignores_where_features_are():
    features = torch.randn(
        1, 8, 6, 6, generator=torch.Generator().manual_seed(1), dtype=torch.float64
    )
    flat = features.flatten(2)
    shuffled = flat[..., torch.randperm(36, generator=torch.Generator().manual_seed(2))].view_as(
        features
    )
    torch.testing.assert_close(gram_matrix(shuffled), gram_matrix(features))
    assert not torch.equal(shuffled, features)


def test_gram_matrix_rejects_a_flat_tensor():
    with pytest.raises(ValueError, match=r"\(batch, filters, height, width\)"):
        gram_matrix(torch.zeros(4, 9))


def test_style_layer_loss_is_the_lectures_formula():
    generator = torch.Generator().manual_seed(3)
    g = torch.randn(2, 5, 5, generator=generator, dtype=torch.float64)
    a = torch.randn(2, 5, 5, generator=generator, dtype=torch.float64)
    m = 49
    reference = sum(
        (g[b, i, j] - a[b, i, j]).item() ** 2 for b in range(2) for i in range(5) for j in range(5)
    )
    assert math.isclose(
        style_layer_loss(g, a, m).item(), reference / (4 * 25 * m * m), rel_tol=1e-12
    )
    with pytest.raises(ValueError, match="differ in shape"):
        style_layer_loss(g, a[:, :4, :4], m)


def feature_dict(seed: int) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    shapes = {"l1": (1, 4, 8, 8), "l2": (1, 8, 4, 4), "l3": (1, 16, 2, 2)}
    return {
        name: torch.rand(shape, generator=generator, dtype=torch.float64)
        for name, shape in shapes.items()
    }


def test_style_loss_weights_each_layer_and_ignores_the_rest():
    mine, theirs = feature_dict(4), feature_dict(5)
    weights = {"l1": 0.3, "l3": 2.0}
    loss = StyleLoss(theirs, weights)
    expected = 0.0
    for name, w in weights.items():
        n, m = mine[name].shape[1], mine[name].shape[2] * mine[name].shape[3]
        diff = numpy_gram(mine[name][0].numpy()) - numpy_gram(theirs[name][0].numpy())
        expected += w * (diff**2).sum() / (4 * n**2 * m**2)
    assert math.isclose(loss(mine).item(), expected, rel_tol=1e-10)
    assert loss(theirs).item() == 0.0
    assert set(loss.layer_losses(mine)) == {"l1", "l3"}


def test_style_loss_compares_a_larger_image_per_position():
    """Tiling the maps 2x2 multiplies the Gram matrix by 4 = the ratio of map sizes: no style
    difference."""
    target = feature_dict(6)
    tiled = {name: fmap.repeat(1, 1, 2, 2) for name, fmap in target.items()}
    loss = StyleLoss(target, {"l1": 1.0, "l2": 1.0})
    assert loss(tiled).item() < 1e-20
    unscaled = sum(
        style_layer_loss(gram_matrix(tiled[n]), gram_matrix(target[n]), tiled[n][0, 0].numel())
        for n in ("l1", "l2")
    )
    assert unscaled.item() > 1e-3  # without the rescaling the same texture would look different


def test_style_loss_errors_name_the_layer():
    with pytest.raises(ValueError, match="no target features for style layers"):
        StyleLoss(feature_dict(0), {"conv9": 1.0})
    with pytest.raises(ValueError, match="at least one layer"):
        StyleLoss(feature_dict(0), {})
    with pytest.raises(KeyError, match="l2"):
        StyleLoss(feature_dict(0), {"l2": 1.0})({"l1": feature_dict(1)["l1"]})


def test_content_loss_is_half_the_summed_squared_error():
    target, mine = feature_dict(7), feature_dict(8)
    loss = ContentLoss(target, "l2")
    expected = 0.5 * ((mine["l2"] - target["l2"]) ** 2).sum().item()
    assert math.isclose(loss(mine).item(), expected, rel_tol=1e-12)
    with pytest.raises(ValueError, match="content image's size"):
        loss({"l2": torch.zeros(1, 8, 5, 5, dtype=torch.float64)})
    with pytest.raises(ValueError, match="no target features for content layer"):
        ContentLoss(target, "l9")


def test_total_variation_matches_a_loop():
    x = torch.rand(2, 3, 4, 5, generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    a = x.numpy()
    expected = 0.0
    for b, c, h, w in np.ndindex(a.shape):
        if w + 1 < a.shape[3]:
            expected += (a[b, c, h, w + 1] - a[b, c, h, w]) ** 2
        if h + 1 < a.shape[2]:
            expected += (a[b, c, h + 1, w] - a[b, c, h, w]) ** 2
    assert math.isclose(total_variation(x).item(), expected, rel_tol=1e-12)


def test_vgg19_layer_names_follow_the_paper():
    names = vgg_layer_names(torchvision.models.vgg19().features)
    assert len(names) == 37
    assert names[:5] == ["conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1"]
    assert names[21] == "conv4_2" and names[22] == "relu4_2"  # Gatys et al.'s content layer
    assert names[-1] == "pool5" and names.count("pool3") == 1
    assert [n for n in names if n.startswith("conv")][-1] == "conv5_4"


def test_vgg_features_equal_torchvisions_layers_on_normalized_input():
    torch.manual_seed(0)
    features = torchvision.models.vgg19().features.eval()
    extractor = VGGFeatures(features, ["relu1_1", "conv2_2", "relu3_1"])
    images = torch.rand(2, 3, 32, 32)
    normalized = (images - torch.tensor(extractors.IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(
        extractors.IMAGENET_STD
    ).view(1, 3, 1, 1)
    out = extractor(images)
    names = vgg_layer_names(features)
    with torch.no_grad():
        for name in ("relu1_1", "conv2_2", "relu3_1"):
            expected = features[: names.index(name) + 1](normalized.clone())
            torch.testing.assert_close(out[name], expected)
    assert len(extractor.body) == names.index("relu3_1") + 1  # nothing deeper is computed
    assert not any(p.requires_grad for p in extractor.parameters())
    with pytest.raises(ValueError, match="unknown VGG layers"):
        VGGFeatures(features, ["relu6_1"])


def test_vgg_features_average_pooling_option():
    extractor = VGGFeatures(torchvision.models.vgg19().features, ["relu3_1"], avg_pool=True)
    assert any(isinstance(m, nn.AvgPool2d) for m in extractor.body)
    assert not any(isinstance(m, nn.MaxPool2d) for m in extractor.body)


def test_the_real_weights_are_read_from_the_torch_hub_cache(tmp_path, monkeypatch):
    """A state dict at the weights enum's hub-cache path is the one the chapter loads."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setenv("COURSE_ALLOW_DOWNLOAD", "0")
    checkpoint = extractors._vgg19_checkpoint()
    assert checkpoint == tmp_path / "hub" / "checkpoints" / "vgg19-dcbb9e9d.pth"
    reference = torchvision.models.vgg19()
    marker = torch.randn(64, 3, 3, 3, generator=torch.Generator().manual_seed(11))
    # store every tensor as a broadcast view of one value (a few bytes) except the marked first conv
    state = {
        name: tensor.new_full((1,), 0.01).expand_as(tensor)
        for name, tensor in reference.state_dict().items()
    }
    state["features.0.weight"] = marker
    checkpoint.parent.mkdir(parents=True)
    torch.save(state, checkpoint)
    assert checkpoint.stat().st_size < 1_000_000

    source = load_feature_extractor("auto", verbose=False)
    assert (
        source.pretrained
        and "IMAGENET1K_V1" in source.description
        and str(checkpoint) in source.description
    )
    torch.testing.assert_close(source.extractor.body[0].weight, marker)
    assert source.style_layers == extractors.VGG_STYLE_LAYERS and source.content_layer == "relu4_2"
    assert set(source.extractor(torch.rand(1, 3, 32, 32))) == {
        *extractors.VGG_STYLE_LAYERS,
        "relu4_2",
    }


def test_without_cached_weights_the_fallback_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setenv("COURSE_ALLOW_DOWNLOAD", "0")
    source = load_feature_extractor("auto", verbose=False)
    assert not source.pretrained and isinstance(source.extractor, RandomMultiScaleFeatures)
    assert (
        "random multi-scale" in source.description
        and "not in the torch hub cache" in source.description
    )
    with pytest.raises(RuntimeError, match="not in the torch hub cache"):
        load_feature_extractor("vgg19", verbose=False)
    with pytest.raises(ValueError, match="'auto', 'vgg19' or 'random'"):
        load_feature_extractor("alexnet", verbose=False)


def test_random_features_are_fixed_by_the_seed_and_zero_mean():
    a, b, c = (
        RandomMultiScaleFeatures(seed=0),
        RandomMultiScaleFeatures(seed=0),
        RandomMultiScaleFeatures(seed=1),
    )
    for conv_a, conv_b, conv_c in zip(a.convs, b.convs, c.convs):
        assert torch.equal(conv_a.weight, conv_b.weight) and not torch.equal(
            conv_a.weight, conv_c.weight
        )
        assert conv_a.weight.mean(dim=(1, 2, 3)).abs().max() < 1e-6
    out = a(torch.rand(1, 3, 64, 64))
    assert list(out) == list(a.layers) and len(out) == 4 * 3
    assert out["s0k3"].shape == (1, 64, 64, 64) and out["s3k7"].shape == (1, 64, 8, 8)
    assert min(v.min().item() for v in out.values()) >= 0  # after the ReLU
    with pytest.raises(ValueError, match="odd kernel sizes"):
        RandomMultiScaleFeatures(kernel_sizes=(4,))
    with pytest.raises(ValueError, match=r"\(batch, 3, height, width\)"):
        a(torch.rand(1, 1, 16, 16))


def small_texture() -> torch.Tensor:
    from course_utils.data import load_image

    return image_to_tensor(load_image("brick", verbose=False), 48)


def test_synthesis_matches_the_texture_statistics():
    extractor = RandomMultiScaleFeatures(filters=16, levels=3)
    texture = small_texture()
    with torch.no_grad():
        target = extractor(texture)
    loss = StyleLoss(target, {name: 1.0 for name in extractor.layers})
    init = synthesis.noise_like(texture, seed=0)
    with torch.no_grad():
        start = loss(extractor(init)).item()
    result = synthesize(
        extractor, init, style=loss, beta=1e6, evaluations=40, snapshot_at=(1, 40), progress=False
    )
    assert result.evaluations == len(result.losses) == 40
    assert result.losses[-1] < 0.01 * result.losses[0]
    assert math.isclose(result.losses[0], 1e6 * start, rel_tol=1e-5)
    assert set(result.snapshots) == {1, 40} and result.image.min() >= 0 and result.image.max() <= 1
    assert not any(p.grad is not None for p in extractor.parameters())


def test_lbfgs_beats_adam_at_equal_evaluations():
    extractor = RandomMultiScaleFeatures(filters=16, levels=3)
    texture = small_texture()
    with torch.no_grad():
        loss = StyleLoss(extractor(texture), {name: 1.0 for name in extractor.layers})
    init = synthesis.noise_like(texture, seed=1)
    lbfgs = synthesize(extractor, init, style=loss, beta=1e6, evaluations=30, progress=False)
    adam = synthesize(
        extractor, init, style=loss, beta=1e6, optimizer="adam", evaluations=30, progress=False
    )
    assert len(adam.losses) == 30 and adam.losses[-1] < adam.losses[0]
    assert lbfgs.losses[-1] < adam.losses[-1]


def test_style_transfer_trades_content_for_style_with_beta():
    extractor = RandomMultiScaleFeatures(filters=16, levels=3)
    from course_utils.data import load_image

    content_img = image_to_tensor(load_image("chelsea", verbose=False), (40, 40))
    style_img = image_to_tensor(load_image("immunohistochemistry", verbose=False), (40, 40))
    with torch.no_grad():
        style_loss = StyleLoss(extractor(style_img), {name: 1.0 for name in extractor.layers})
        content_loss = ContentLoss(extractor(content_img), "s1k5")
    results = [
        synthesize(
            extractor,
            content_img,
            style_loss,
            content_loss,
            beta=beta,
            evaluations=25,
            progress=False,
        )
        for beta in (1e4, 1e8)
    ]
    with torch.no_grad():
        measured = [
            (content_loss(extractor(r.image)).item(), style_loss(extractor(r.image)).item())
            for r in results
        ]
    assert measured[1][0] > measured[0][0] and measured[1][1] < measured[0][1]


def test_synthesize_rejects_bad_arguments():
    extractor = RandomMultiScaleFeatures(filters=4, levels=1)
    image = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        loss = StyleLoss(extractor(image), {"s0k3": 1.0})
    with pytest.raises(ValueError, match="a style loss, a content loss"):
        synthesize(extractor, image)
    with pytest.raises(ValueError, match="'lbfgs' or 'adam'"):
        synthesize(extractor, image, loss, optimizer="sgd")
    with pytest.raises(ValueError, match="at least 1"):
        synthesize(extractor, image, loss, evaluations=0)
    with pytest.raises(ValueError, match=r"\(batch, 3, height, width\)"):
        synthesize(extractor, image[0], loss)


def test_image_to_tensor_shapes_and_checks():
    gray = np.linspace(0, 1, 20 * 30, dtype=np.float32).reshape(20, 30)
    tensor = image_to_tensor(gray)
    assert tensor.shape == (1, 3, 20, 30) and torch.equal(tensor[0, 0], tensor[0, 2])
    assert image_to_tensor(gray, 10).shape == (1, 3, 10, 15)
    assert image_to_tensor(gray, (8, 8)).shape == (1, 3, 8, 8)
    assert center_crop(tensor, 20).shape == (1, 3, 20, 20)
    with pytest.raises(ValueError, match=r"values in \[0, 1\]"):
        image_to_tensor(gray * 255)
    with pytest.raises(ValueError, match="cannot crop"):
        center_crop(tensor, 25)
