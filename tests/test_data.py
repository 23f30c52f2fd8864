"""sparsenet.data: the real datasets as published, and every way a bad file is reported.

Real-data tests use the files found through SPARSENET_DATA or data/ and are skipped when those
are absent. Bad-input tests write small IDX files into tmp dirs. No test touches the network
(conftest.py replaces ``data._fetch``).
"""
import gzip
import hashlib
import os
import shutil
import time

import numpy as np
import pytest

from sparsenet import data

# ----------------------------------------------------------------------------- helpers


def idx_bytes(array, magic=None):
    """Encode a uint8 array as IDX: magic, big-endian dims, then the raw bytes."""
    array = np.asarray(array, dtype=np.uint8)
    magic = 0x0800 | array.ndim if magic is None else magic
    dims = b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return magic.to_bytes(4, "big") + dims + array.tobytes()


def write(folder, stem, content, gz=True):
    """Write ``content`` to ``folder/stem`` (gzip-compressed as ``stem.gz`` if ``gz``)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (stem + ".gz" if gz else stem)
    path.write_bytes(gzip.compress(content) if gz else content)
    return path


def synthetic(n=6, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8), np.arange(n, dtype=np.uint8) % 10


def make_split(folder, split="train", n=6, gz=True, seed=0):
    """A small dataset under the official file names; returns (image path, label path, images, labels)."""
    images, labels = synthetic(n, seed)
    image_stem, label_stem = data.FILES[split]
    return (write(folder, image_stem, idx_bytes(images), gz), write(folder, label_stem, idx_bytes(labels), gz),
            images, labels)


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No SPARSENET_DATA and an empty stand-in for the repository data/ folder."""
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    monkeypatch.setattr(data, "REPO_DATA_DIR", tmp_path / "repo-data")
    return tmp_path


def says(err, path, *phrases):
    """The error names ``path``, says each phrase outside the path (tmp dirs carry the test's
    name), and shows no chained low-level traceback (struct, gzip, zlib, EOFError)."""
    message = str(err.value)
    assert str(path) in message, message
    rest = message.replace(str(path), "<path>")
    for phrase in phrases:
        assert phrase in rest, message
    assert err.value.__cause__ is None
    assert err.value.__context__ is None or err.value.__suppress_context__


def load_synthetic(root, split="train"):
    return data.load_dataset("mnist", split, data_dir=root, download=False, verify=False)


# ----------------------------------------------------------------------------- real data

SIZES = {"train": 60_000, "test": 10_000}
DIR_FIXTURE = {"mnist": "mnist_dir", "fashion-mnist": "fashion_mnist_dir"}


def real(name):
    """A dataset name as a parameter, marked as needing that real dataset (see conftest)."""
    return pytest.param(name, marks=pytest.mark.real_data(name))


@pytest.mark.parametrize("split", data.SPLITS)
@pytest.mark.parametrize("name", [real(n) for n in data.DATASETS])
def test_real_splits_have_published_sizes_types_and_range(request, name, split):
    request.getfixturevalue(DIR_FIXTURE[name])
    images, labels = data.load_dataset(name, split, download=False)
    assert images.shape == (SIZES[split], 28, 28) and images.dtype == np.float32
    assert labels.shape == (SIZES[split],) and labels.dtype == np.int64
    assert images.min() == 0.0 and images.max() == 1.0
    assert set(np.unique(labels)) == set(range(10))


def test_mnist_train_pixel_mean_and_std_match_published_values(mnist_dir):
    images, _ = data.load_dataset("mnist", "train", download=False)
    assert images.mean(dtype=np.float64) == pytest.approx(0.1306605, abs=1e-6)
    assert images.std(dtype=np.float64) == pytest.approx(0.3081078, abs=1e-6)


def test_mnist_3_vs_7_test_subset_has_2038_images(mnist_dir):
    images, labels01 = data.load_binary("mnist", "test", download=False)
    assert images.shape == (2038, 28, 28)
    assert np.bincount(labels01).tolist() == [1010, 1028]  # 1010 threes -> 0, 1028 sevens -> 1


@pytest.mark.parametrize("split, per_class", [("train", 6000), ("test", 1000)])
def test_fashion_mnist_tshirt_vs_pullover_subset_sizes(fashion_mnist_dir, split, per_class):
    images, labels01 = data.load_binary("fashion-mnist", split, download=False)
    assert images.shape == (2 * per_class, 28, 28)
    assert np.bincount(labels01).tolist() == [per_class, per_class]


def test_fashion_mnist_binary_task_is_tshirt_0_vs_pullover_2(fashion_mnist_dir):
    images, labels = data.load_dataset("fashion-mnist", "test", download=False)
    x01, y01 = data.load_binary("fashion-mnist", "test", download=False)
    keep = (labels == 0) | (labels == 2)
    np.testing.assert_array_equal(x01, images[keep])
    np.testing.assert_array_equal(y01, labels[keep] == 2)


def on_disk(folder, stem):
    """The files of ``stem`` in ``folder``, as the loader accepts them: ``<stem>`` and ``<stem>.gz``,
    whichever exist (at least one)."""
    found = [path for path in (folder / stem, folder / f"{stem}.gz") if path.is_file()]
    assert found, f"neither {stem} nor {stem}.gz is in {folder}"
    return found


@pytest.mark.parametrize("name", [real(n) for n in data.DATASETS])
def test_real_files_hash_to_the_published_sha256(request, name):
    folder = request.getfixturevalue(DIR_FIXTURE[name])
    for stem in data.FILES["train"] + data.FILES["test"]:
        for path in on_disk(folder, stem):
            content = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
            assert hashlib.sha256(content).hexdigest() == data.SHA256[f"{name}/{stem}"], path


def test_loader_verifies_sha256_by_default(mnist_dir, isolated):
    # A copy of the real test split with one label changed: the format is fine, the hash is not.
    copy = isolated / "copy" / "mnist"
    copy.mkdir(parents=True)
    image_stem, label_stem = data.FILES["test"]
    for path in on_disk(mnist_dir, image_stem):
        shutil.copy(path, copy)
    labels = data.read_idx(on_disk(mnist_dir, label_stem)[0], data.LABELS_MAGIC).copy()
    labels[0] = (labels[0] + 1) % 10
    label_path = write(copy, label_stem, idx_bytes(labels), gz=False)

    with pytest.raises(data.ChecksumError) as err:
        data.load_dataset("mnist", "test", data_dir=copy.parent, download=False)
    says(err, label_path, "SHA-256", data.SHA256["mnist/t10k-labels-idx1-ubyte"])
    _, loaded = data.load_dataset("mnist", "test", data_dir=copy.parent, download=False, verify=False)
    assert loaded[0] == labels[0]


def test_second_load_is_fast_and_cannot_corrupt_the_cache(mnist_dir):
    data.load_dataset("mnist", "train", download=False)
    start = time.perf_counter()
    images, labels = data.load_dataset("mnist", "train", download=False)
    assert time.perf_counter() - start < 0.5
    with pytest.raises(ValueError):
        images[0, 0, 0] = 0.5
    with pytest.raises(ValueError):
        labels[0] = 3


def test_train_val_split_is_seeded_deterministic_and_disjoint(mnist_dir):
    images, labels = data.load_binary("mnist", "train", download=False)
    first = data.train_val_split(images, labels, val_size=1000, seed=0)
    again = data.train_val_split(images, labels, val_size=1000, seed=0)
    other = data.train_val_split(images, labels, val_size=1000, seed=1)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    x_train, y_train, x_val, y_val = first
    assert len(x_val) == len(y_val) == 1000 and len(x_train) == len(y_train) == len(images) - 1000
    # Track indices through the same split: disjoint, and together every example exactly once.
    idx_train, _, idx_val, _ = data.train_val_split(np.arange(len(images)), labels, 1000, seed=0)
    other_val = data.train_val_split(np.arange(len(images)), labels, 1000, seed=1)[2]
    assert len(set(idx_val) & set(other_val)) < 200      # another seed, another validation set (~83 shared)
    np.testing.assert_array_equal(other[2], images[other_val])
    assert not set(idx_train) & set(idx_val)
    np.testing.assert_array_equal(np.sort(np.concatenate([idx_train, idx_val])), np.arange(len(images)))
    np.testing.assert_array_equal(x_val, images[idx_val])
    np.testing.assert_array_equal(y_train, labels[idx_train])


# ----------------------------------------------------------------------------- small synthetic files


@pytest.mark.parametrize("gz", [True, False], ids=["gz", "raw"])
def test_synthetic_files_load_as_float32_in_unit_range(isolated, gz):
    _, _, images, labels = make_split(isolated / "mnist", gz=gz)
    x, y = load_synthetic(isolated)
    assert x.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_array_equal(x, images.astype(np.float32) / 255)
    np.testing.assert_array_equal(y, labels)


def test_data_dir_may_be_the_dataset_folder_itself(isolated):
    make_split(isolated / "my-copy", n=4)
    x, _ = data.load_dataset("mnist", "train", data_dir=isolated / "my-copy", download=False, verify=False)
    assert len(x) == 4


def test_search_order_is_data_dir_then_env_then_repo(isolated, monkeypatch):
    for root, n in [("arg", 3), ("env", 4), ("repo-data", 5)]:
        make_split(isolated / root / "mnist", n=n)
    monkeypatch.setenv(data.ENV_VAR, str(isolated / "env"))
    assert data.find_data_dir("mnist", isolated / "arg", split="train") == isolated / "arg" / "mnist"
    assert len(load_synthetic(isolated / "arg")[0]) == 3
    assert len(load_synthetic(None)[0]) == 4
    monkeypatch.delenv(data.ENV_VAR)
    assert len(load_synthetic(None)[0]) == 5


@pytest.mark.parametrize("which, magic", [("images", 2049), ("labels", 2051), ("images", 0x12345678)])
def test_wrong_magic_number_is_an_idx_format_error(isolated, which, magic):
    images, labels = synthetic()
    folder = isolated / "mnist"
    image_path = write(folder, data.FILES["train"][0], idx_bytes(images, magic if which == "images" else None))
    label_path = write(folder, data.FILES["train"][1], idx_bytes(labels, magic if which == "labels" else None))
    with pytest.raises(data.IDXFormatError) as err:
        load_synthetic(isolated)
    says(err, image_path if which == "images" else label_path, f"wrong magic number {magic}")


def test_gzip_content_without_gz_suffix_says_so(isolated):
    image_path, _, _, _ = make_split(isolated / "mnist", gz=False)
    image_path.write_bytes(gzip.compress(image_path.read_bytes()))
    with pytest.raises(data.IDXFormatError) as err:
        load_synthetic(isolated)
    says(err, image_path, "wrong magic number", "gzip data")


@pytest.mark.parametrize("gz", [True, False], ids=["gz", "raw"])
@pytest.mark.parametrize("cut, problem", [(-100, "truncated"), (10, "truncated header"), (None, "oversized")])
def test_length_that_disagrees_with_the_header_is_an_idx_format_error(isolated, gz, cut, problem):
    images, labels = synthetic()
    content = idx_bytes(images)
    content = content + b"\0" * 7 if problem == "oversized" else content[:cut]
    image_path = write(isolated / "mnist", data.FILES["train"][0], content, gz)
    write(isolated / "mnist", data.FILES["train"][1], idx_bytes(labels), gz)
    with pytest.raises(data.IDXFormatError) as err:
        load_synthetic(isolated)
    says(err, image_path, problem)


def test_a_header_declaring_a_huge_size_is_truncated_not_overflowed(isolated):
    dims = (2 ** 31, 2 ** 31, 28)
    content = (2051).to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in dims) + b"\0" * 10
    image_path = write(isolated / "mnist", data.FILES["train"][0], content)
    write(isolated / "mnist", data.FILES["train"][1], idx_bytes(synthetic()[1]))
    with pytest.raises(data.IDXFormatError) as err:
        load_synthetic(isolated)
    says(err, image_path, "truncated", f"i.e. {16 + 2 ** 62 * 28} bytes")


@pytest.mark.parametrize("which", ["images", "labels"])
def test_wrong_magic_in_an_official_file_is_reported_as_such_not_as_a_checksum(isolated, which):
    """verify=True on a file under an official name: the format error is the real cause."""
    images, labels = synthetic()
    folder = isolated / "mnist"
    image_path = write(folder, data.FILES["test"][0], idx_bytes(images, 2049 if which == "images" else None))
    label_path = write(folder, data.FILES["test"][1], idx_bytes(labels, 2051 if which == "labels" else None))
    with pytest.raises(data.IDXFormatError) as err:
        data.load_dataset("mnist", "test", data_dir=isolated, download=False)
    says(err, image_path if which == "images" else label_path, "wrong magic number")


def test_read_idx_checks_the_format_before_the_checksum(isolated):
    path = write(isolated, "t10k-labels-idx1-ubyte", idx_bytes(synthetic()[1], magic=2051))
    with pytest.raises(data.IDXFormatError, match="wrong magic number 2051"):
        data.read_idx(path, data.LABELS_MAGIC, sha256=data.SHA256["mnist/t10k-labels-idx1-ubyte"])


def test_count_mismatch_in_official_files_is_reported_as_such_not_as_a_checksum(isolated):
    images, labels = synthetic(n=6)
    write(isolated / "mnist", data.FILES["test"][0], idx_bytes(images))
    write(isolated / "mnist", data.FILES["test"][1], idx_bytes(labels[:4]))
    with pytest.raises(data.IDXFormatError, match="holds 6 images but .* holds 4 labels"):
        data.load_dataset("mnist", "test", data_dir=isolated, download=False)


def test_image_and_label_count_mismatch_names_both_files(isolated):
    images, labels = synthetic(n=6)
    image_path = write(isolated / "mnist", data.FILES["test"][0], idx_bytes(images))
    label_path = write(isolated / "mnist", data.FILES["test"][1], idx_bytes(labels[:5]))
    with pytest.raises(data.IDXFormatError) as err:
        load_synthetic(isolated, "test")
    says(err, image_path, "6 images")
    says(err, label_path, "5 labels")


def test_images_that_are_not_28x28_are_rejected(isolated):
    image_path = write(isolated / "mnist", data.FILES["train"][0], idx_bytes(np.zeros((6, 27, 28))))
    write(isolated / "mnist", data.FILES["train"][1], idx_bytes(synthetic()[1]))
    with pytest.raises(data.IDXFormatError) as err:
        load_synthetic(isolated)
    says(err, image_path, "27x28, expected 28x28")


@pytest.mark.parametrize("bad", [10, 12, 255])
def test_label_outside_0_to_9_is_rejected(isolated, bad):
    write(isolated / "mnist", data.FILES["train"][0], idx_bytes(synthetic(n=2)[0]))
    label_path = write(isolated / "mnist", data.FILES["train"][1], idx_bytes([9, bad]))
    with pytest.raises(data.IDXFormatError) as err:
        load_synthetic(isolated)
    says(err, label_path, f"label {bad} is outside 0..9")


def test_an_uncompressed_file_wins_over_its_gz_twin(isolated):
    """The loader's order: ``<stem>`` first, then ``<stem>.gz``."""
    make_split(isolated / "mnist", n=3, gz=False, seed=0)
    make_split(isolated / "mnist", n=5, gz=True, seed=1)
    x, _ = load_synthetic(isolated)
    assert len(x) == 3


def test_locate_reports_the_folder_and_why_or_where_a_download_goes(isolated, monkeypatch):
    make_split(isolated / "env" / "mnist", split="train")
    make_split(isolated / "env" / "mnist", split="test")
    monkeypatch.setenv(data.ENV_VAR, str(isolated / "env"))
    assert data.locate("mnist") == (isolated / "env" / "mnist", "$SPARSENET_DATA")
    folder, why = data.locate("fashion-mnist")
    assert folder is None and str(isolated / "repo-data" / "fashion-mnist") in why


def _not_gzip(blob):
    return b"this is not gzip" + blob


def _cut_stream(blob):
    return blob[: len(blob) // 2]


def _flip_body_byte(blob):
    body = bytearray(blob)
    body[len(body) // 2] ^= 0xFF
    return bytes(body)


@pytest.mark.parametrize("damage", [_not_gzip, _cut_stream, _flip_body_byte])
def test_corrupt_gzip_is_a_corrupt_file_error(isolated, damage):
    image_path, _, _, _ = make_split(isolated / "mnist", gz=True)
    image_path.write_bytes(damage(image_path.read_bytes()))
    with pytest.raises(data.CorruptFileError) as err:
        load_synthetic(isolated)
    says(err, image_path, "not a valid gzip file")


def test_checksum_mismatch_on_an_official_file_name(isolated):
    image_path, _, _, _ = make_split(isolated / "mnist", split="test")
    with pytest.raises(data.ChecksumError) as err:
        data.load_dataset("mnist", "test", data_dir=isolated, download=False)
    says(err, image_path, "SHA-256", data.SHA256["mnist/t10k-images-idx3-ubyte"])


def test_cached_unverified_load_does_not_skip_a_later_verification(isolated):
    make_split(isolated / "mnist", split="test")
    load_synthetic(isolated, "test")
    with pytest.raises(data.ChecksumError):
        data.load_dataset("mnist", "test", data_dir=isolated, download=False, verify=True)


def test_cache_notices_a_rewritten_file(isolated):
    image_path, _, images, _ = make_split(isolated / "mnist", gz=False)
    load_synthetic(isolated)
    image_path.write_bytes(idx_bytes(255 - images))
    os.utime(image_path, ns=(1, 1))  # a different mtime even on coarse-grained filesystems
    second, _ = load_synthetic(isolated)
    np.testing.assert_array_equal(second, (255 - images).astype(np.float32) / 255)


def test_missing_file_without_download_lists_every_place_searched(isolated, monkeypatch):
    make_split(isolated / "arg" / "mnist")
    (isolated / "arg" / "mnist" / "train-labels-idx1-ubyte.gz").unlink()
    monkeypatch.setenv(data.ENV_VAR, str(isolated / "env"))
    with pytest.raises(data.DataNotFoundError) as err:
        data.load_dataset("mnist", "train", data_dir=isolated / "arg", download=False)
    message = str(err.value)
    for folder in [isolated / "arg" / "mnist", isolated / "arg", isolated / "env" / "mnist",
                   isolated / "repo-data" / "mnist"]:
        assert f"    {folder} " in message
    assert "train-images-idx3-ubyte.gz" in message and "train-labels-idx1-ubyte.gz" in message
    assert "has only train-images-idx3-ubyte" in message
    assert "SPARSENET_DATA" in message and "download=False" in message


def test_failed_download_raises_and_leaves_no_file(isolated, capsys):
    with pytest.raises(data.DataNotFoundError) as err:
        data.load_dataset("fashion-mnist", "test")  # conftest's _fetch refuses every URL
    message = str(err.value)
    assert "t10k-images-idx3-ubyte.gz" in message and "SPARSENET_DATA" in message
    assert data.MIRRORS["fashion-mnist"][0] + "t10k-images-idx3-ubyte.gz" in message
    target = isolated / "repo-data" / "fashion-mnist"
    assert not target.exists() or not any(target.iterdir())
    assert "downloading" in capsys.readouterr().err


def test_download_rejects_content_with_the_wrong_checksum(isolated, monkeypatch):
    images, _ = synthetic()
    monkeypatch.setattr(data, "_fetch", lambda url, timeout=None: gzip.compress(idx_bytes(images)))
    with pytest.raises(data.DataNotFoundError, match="does not have the published SHA-256"):
        data.load_dataset("mnist", "train")
    target = isolated / "repo-data" / "mnist"
    assert not target.exists() or not any(target.iterdir())


def test_download_writes_verified_files_into_repo_data(isolated, monkeypatch, capsys):
    images, labels = synthetic(n=7)
    served = {stem: idx_bytes(a) for stem, a in zip(data.FILES["train"], (images, labels))}
    for stem, content in served.items():
        monkeypatch.setitem(data.SHA256, f"mnist/{stem}", hashlib.sha256(content).hexdigest())
    urls = []

    def fake_fetch(url, timeout=None):
        urls.append(url)
        return gzip.compress(served[url.rsplit("/", 1)[1].removesuffix(".gz")])

    monkeypatch.setattr(data, "_fetch", fake_fetch)
    x, y = data.load_dataset("mnist", "train")
    assert len(x) == 7 and y.tolist() == labels.tolist()
    assert urls == [data.MIRRORS["mnist"][0] + f"{stem}.gz" for stem in data.FILES["train"]]
    assert sorted(p.name for p in (isolated / "repo-data" / "mnist").iterdir()) == [
        "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"]
    assert capsys.readouterr().err.count("sparsenet: downloading") == 2


# ----------------------------------------------------------------------------- arguments


@pytest.mark.parametrize("call", [
    lambda: data.load_dataset("cifar10", "train"),
    lambda: data.load_binary("emnist", "train"),
    lambda: data.find_data_dir("kmnist"),
])
def test_unknown_dataset_name_lists_the_choices(call):
    with pytest.raises(ValueError, match="'mnist', 'fashion-mnist'"):
        call()


def test_unknown_split_lists_the_choices():
    with pytest.raises(ValueError, match="unknown split 'val'; choose one of 'train', 'test'"):
        data.load_dataset("mnist", "val")


def test_every_data_error_is_a_value_error():
    for cls in (data.DataNotFoundError, data.IDXFormatError, data.ChecksumError, data.CorruptFileError):
        assert issubclass(cls, data.DataError) and issubclass(cls, ValueError)


def test_binary_subset_keeps_two_classes_in_order_and_relabels():
    labels = np.array([7, 1, 3, 7, 3, 9])
    images = np.arange(6)[:, None] * np.ones((1, 2))
    x, y = data.binary_subset(images, labels, (3, 7))
    np.testing.assert_array_equal(x[:, 0], [0, 2, 3, 4])
    assert y.tolist() == [1, 0, 1, 0] and y.dtype == np.int64
    for bad in [(3, 3), (3,), (1, 2, 3)]:
        with pytest.raises(ValueError, match="two different labels"):
            data.binary_subset(images, labels, bad)


def test_train_val_split_accepts_a_fraction_and_rejects_empty_parts():
    x, y = np.arange(10), np.arange(10) % 2
    assert len(data.train_val_split(x, y, 0.2, seed=0)[2]) == 2
    assert len(data.train_val_split(x, y, 0.36, seed=0)[2]) == 4          # rounded, not truncated
    assert len(data.train_val_split(x, y, np.float32(0.3), seed=0)[2]) == 3
    assert len(data.train_val_split(x, y, np.int64(3), seed=0)[2]) == 3
    for bad in [0, 10, 1.0, 0.0, -3]:
        with pytest.raises(ValueError, match="val_size"):
            data.train_val_split(x, y, bad, seed=0)
    for bad in [True, "3", None]:
        with pytest.raises(ValueError, match="val_size must be a number"):
            data.train_val_split(x, y, bad, seed=0)
