"""Host input: sources (IDX, TFDS mocked, image folders, offline failures) and the step-indexed pipelines."""

import gzip
import os
import socket
import time

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from configs import simclr as simclr_config
from jaxssl import data, train
from jaxssl.data import files, sources

FAST_FAILURE_S = 5.0


def _write_idx(path, array: np.ndarray, *, compress: bool):
    type_byte = {np.dtype(np.uint8): 0x08, np.dtype(np.int32): 0x0C}[array.dtype]
    header = bytes([0, 0, type_byte, array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
    content = header + array.astype(array.dtype.newbyteorder(">")).tobytes()
    with (gzip.open if compress else open)(path, "wb") as f:
        f.write(content)


def _write_fashion_split(
    folder, prefix: str, num: int, *, compress: bool, rng
) -> tuple[np.ndarray, np.ndarray]:
    images = rng.integers(0, 256, (num, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, (num,), dtype=np.uint8)
    suffix = ".gz" if compress else ""
    _write_idx(os.path.join(folder, f"{prefix}-images-idx3-ubyte{suffix}"), images, compress=compress)
    _write_idx(os.path.join(folder, f"{prefix}-labels-idx1-ubyte{suffix}"), labels, compress=compress)
    return images, labels


def _write_image(path, image: np.ndarray):
    encoded = tf.io.encode_jpeg(image, quality=95) if path.endswith(".jpg") else tf.io.encode_png(image)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tf.io.write_file(path, encoded)


def _random_image(rng, height=20, width=24, channels=3) -> np.ndarray:
    return rng.integers(0, 256, (height, width, channels), dtype=np.uint8)


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("dtype", [np.uint8, np.int32])
def test_read_idx_round_trip(tmp_path, compress, dtype):
    array = np.arange(2 * 3 * 5, dtype=dtype).reshape(2, 3, 5) * 7
    path = str(tmp_path / ("a.idx.gz" if compress else "a.idx"))
    _write_idx(path, array, compress=compress)
    read = data.read_idx(path)
    assert read.dtype == dtype and read.shape == (2, 3, 5)
    np.testing.assert_array_equal(read, array)


def test_read_idx_bad_magic(tmp_path):
    path = tmp_path / "bad.idx"
    path.write_bytes(b"\x01\x02\x08\x01" + bytes(8))
    with pytest.raises(ValueError, match="magic number"):
        data.read_idx(str(path))


@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_truncated(tmp_path, compress):
    path = str(tmp_path / ("t.idx.gz" if compress else "t.idx"))
    _write_idx(path, np.zeros((4, 6, 6), np.uint8), compress=compress)
    with open(path, "rb") as f:
        content = f.read()
    with open(path, "wb") as f:
        f.write(content[:-10])
    with pytest.raises(ValueError, match="truncated"):
        data.read_idx(path)


@pytest.mark.parametrize("compress", [False, True])
def test_fashion_mnist_from_manual_dir(tmp_path, compress):
    rng = np.random.default_rng(0)
    train_images, train_labels = _write_fashion_split(tmp_path, "train", 6, compress=compress, rng=rng)
    eval_images, eval_labels = _write_fashion_split(tmp_path, "t10k", 3, compress=compress, rng=rng)
    train, info = data.load("fashion_mnist", "train", manual_dir=str(tmp_path))
    held_out, _ = data.load("fashion_mnist", "eval", manual_dir=str(tmp_path))
    assert isinstance(train, data.ArraySource) and info.image_shape == (28, 28, 1) and info.num_classes == 10
    assert train.images.dtype == np.uint8 and train.labels.dtype == np.int32
    np.testing.assert_array_equal(train.images[..., 0], train_images)
    np.testing.assert_array_equal(train.labels, train_labels)
    np.testing.assert_array_equal(held_out.images[..., 0], eval_images)
    np.testing.assert_array_equal(held_out.labels, eval_labels)


@pytest.mark.skipif(
    not os.path.isdir(sources.FASHION_MNIST_DIR), reason="dataset-fashion-mnist not installed"
)
def test_fashion_mnist_system_files():
    for split, num in (("train", 60_000), ("eval", 10_000)):
        source, info = data.load("fashion_mnist", split)
        assert source.images.shape == (num, 28, 28, 1) and source.images.dtype == np.uint8
        assert source.labels.shape == (num,) and set(np.unique(source.labels)) == set(range(10))
        assert (info.train_examples, info.eval_examples) == (60_000, 10_000)


def test_tfds_not_prepared_fails_fast(tmp_path):
    start = time.monotonic()
    with pytest.raises(data.DatasetNotFoundError) as error:
        data.load("cifar10", "train", data_dir=str(tmp_path))
    assert time.monotonic() - start < FAST_FAILURE_S
    assert "--config.data.download=True" in str(error.value) and "tfds build cifar10" in str(error.value)
    assert str(tmp_path) in str(error.value)


def test_tfds_download_offline_fails_fast(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "network_available", lambda: False)
    monkeypatch.setattr(
        tfds.core.DatasetBuilder,
        "download_and_prepare",
        lambda *args, **kwargs: pytest.fail("download attempted while offline"),
    )
    start = time.monotonic()
    with pytest.raises(data.DatasetNotFoundError, match="unreachable"):
        data.load("cifar10", "train", data_dir=str(tmp_path), download=True)
    assert time.monotonic() - start < FAST_FAILURE_S


def test_fashion_mnist_missing_everywhere(tmp_path):
    (tmp_path / "manual").mkdir()
    with pytest.raises(data.DatasetNotFoundError, match="dataset-fashion-mnist"):
        data.load(
            "fashion_mnist", "train", manual_dir=str(tmp_path / "manual"), data_dir=str(tmp_path / "tfds")
        )


def test_imagenet_without_folder_names_layout(tmp_path):
    for manual_dir in (None, str(tmp_path)):
        with pytest.raises(data.DatasetNotFoundError, match=r"DIR/train/<wnid>/\*\.JPEG"):
            data.load("imagenet2012", "train", manual_dir=manual_dir)


def test_unknown_names_list_choices():
    with pytest.raises(ValueError, match="cifar100"):
        data.load("cifar1000", "train")
    with pytest.raises(ValueError, match="'train', 'eval'"):
        data.load("cifar10", "test")


def test_network_available_probes_a_port():
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        assert data.network_available("127.0.0.1", port, timeout_s=1.0)
    assert not data.network_available("127.0.0.1", port, timeout_s=1.0)


@pytest.mark.parametrize("name, image_shape", [("cifar10", (32, 32, 3)), ("stl10", (96, 96, 3))])
def test_tfds_mocked_array_source(tmp_path, monkeypatch, name, image_shape):
    monkeypatch.setattr(tfds.core.DatasetBuilder, "is_prepared", lambda self: True)
    with tfds.testing.mock_data(num_examples=6):
        source, info = data.load(name, "train", data_dir=str(tmp_path))
    assert isinstance(source, data.ArraySource) and info.image_shape == image_shape
    assert source.images.shape == (6,) + image_shape and source.images.dtype == np.uint8
    assert source.labels.dtype == np.int32 and np.all((source.labels >= -1) & (source.labels < 10))


def test_image_folder_with_classes(tmp_path):
    rng = np.random.default_rng(0)
    for split, names in (("train", ("b.png", "a.jpg")), ("val", ("c.JPEG",))):
        for class_name in ("dog", "cat"):
            for name in names:
                _write_image(str(tmp_path / split / class_name / name), _random_image(rng))
    (tmp_path / "train" / "cat" / "notes.txt").write_text("not an image")
    train, info = data.load("folder", "train", manual_dir=str(tmp_path))
    held_out, _ = data.load("folder", "eval", manual_dir=str(tmp_path))
    assert [os.path.relpath(p, tmp_path) for p in train.paths] == [
        "train/cat/a.jpg",
        "train/cat/b.png",
        "train/dog/a.jpg",
        "train/dog/b.png",
    ]
    np.testing.assert_array_equal(train.labels, [0, 0, 1, 1])
    np.testing.assert_array_equal(held_out.labels, [0, 1])
    assert held_out.paths[0].endswith(os.path.join("val", "cat", "c.JPEG"))
    assert info.num_classes == 2 and info.image_shape == (20, 24, 3) and len(info.mean) == 3
    assert (info.train_examples, info.eval_examples) == (4, 2)


def test_flat_grayscale_folder(tmp_path):
    rng = np.random.default_rng(0)
    for name in ("2.png", "1.png", "3.png"):
        _write_image(str(tmp_path / name), _random_image(rng, channels=1))
    train, info = data.load("folder", "train", manual_dir=str(tmp_path))
    held_out, _ = data.load("folder", "eval", manual_dir=str(tmp_path))
    assert [os.path.basename(p) for p in train.paths] == ["1.png", "2.png", "3.png"]
    np.testing.assert_array_equal(train.labels, [-1, -1, -1])
    assert held_out.paths == train.paths
    assert train.channels == 1 and info.num_classes == 0 and info.image_shape == (20, 24, 1)


def test_example_indices_permute_each_epoch():
    num_examples, global_batch = 10, 4
    seen = np.concatenate(
        [
            data.example_indices(step, num_examples=num_examples, global_batch=global_batch, seed=3)
            for step in range(5)
        ]
    )
    first, second = seen[:10], seen[10:]
    assert sorted(first) == list(range(10)) and sorted(second) == list(range(10))
    assert not np.array_equal(first, second)
    straddling = data.example_indices(2, num_examples=num_examples, global_batch=global_batch, seed=3)
    np.testing.assert_array_equal(straddling, [first[8], first[9], second[0], second[1]])


def test_example_indices_pure_function_of_seed_and_step():
    kwargs = {"num_examples": 1000, "global_batch": 8}
    a = data.example_indices(7, seed=0, **kwargs)
    np.testing.assert_array_equal(a, data.example_indices(7, seed=0, **kwargs))
    assert a.dtype == np.int64 and a.shape == (8,)
    assert not np.array_equal(a, data.example_indices(7, seed=1, **kwargs))
    many_epochs = data.example_indices(1, num_examples=3, global_batch=7, seed=0)
    assert sorted(many_epochs[2:5]) == [0, 1, 2]


def _batches(ds) -> list[dict]:
    return list(data.as_numpy(ds))


def _array_source(num=10, size=12, channels=3) -> data.ArraySource:
    rng = np.random.default_rng(1)
    return data.ArraySource(
        rng.integers(0, 256, (num, size, size, channels), dtype=np.uint8), np.arange(num, dtype=np.int32)
    )


def test_train_array_source_as_stored_resumes_exactly():
    source = _array_source()
    kwargs = {"global_batch": 4, "seed": 5, "num_steps": 6}
    full = _batches(data.train_dataset(source, start_step=0, **kwargs))
    resumed = _batches(data.train_dataset(source, start_step=3, **kwargs))
    assert len(full) == 6 and len(resumed) == 3
    for step, batch in enumerate(full):
        indices = data.example_indices(step, num_examples=10, global_batch=4, seed=5)
        assert batch["image"].shape == (4, 1, 12, 12, 3) and batch["image"].dtype == np.uint8
        assert batch["label"].dtype == np.int32
        np.testing.assert_array_equal(batch["image"][:, 0], source.images[indices])
        np.testing.assert_array_equal(batch["label"], source.labels[indices])
        np.testing.assert_array_equal(batch["index"], indices)
    for a, b in zip(full[3:], resumed, strict=True):
        np.testing.assert_array_equal(a["image"], b["image"])


@pytest.fixture(name="file_source")
def _file_source(tmp_path) -> data.FileSource:
    rng = np.random.default_rng(2)
    paths = [str(tmp_path / f"{i}.{'jpg' if i % 2 else 'png'}") for i in range(6)]
    for i, path in enumerate(paths):
        _write_image(path, _random_image(rng, height=20 + i, width=28 - i))
    return data.FileSource(tuple(paths), np.arange(6, dtype=np.int32))


def test_train_host_crops_resume_exactly(file_source):
    kwargs = {"global_batch": 4, "seed": 0, "num_steps": 4, "host_crop": 8, "crop_scales": ((0.08, 1.0),) * 3}
    full = _batches(data.train_dataset(file_source, start_step=0, **kwargs))
    resumed = _batches(data.train_dataset(file_source, start_step=2, **kwargs))
    assert full[0]["image"].shape == (4, 3, 8, 8, 3) and full[0]["image"].dtype == np.uint8
    for a, b in zip(full[2:], resumed, strict=True):
        np.testing.assert_array_equal(a["image"], b["image"])
        np.testing.assert_array_equal(a["label"], b["label"])
    views = full[0]["image"]
    assert not np.array_equal(views[:, 0], views[:, 1])


def test_train_host_crops_per_view_scales_resume_exactly(file_source):
    scales = ((0.14, 1.0), (0.14, 1.0), (0.05, 0.14), (0.05, 0.14))
    kwargs = {"global_batch": 4, "seed": 3, "num_steps": 3, "host_crop": 8}
    full = _batches(data.train_dataset(file_source, start_step=0, crop_scales=scales, **kwargs))
    again = _batches(data.train_dataset(file_source, start_step=0, crop_scales=scales, **kwargs))
    resumed = _batches(data.train_dataset(file_source, start_step=1, crop_scales=scales, **kwargs))
    assert [batch["image"].shape for batch in full] == [(4, 4, 8, 8, 3)] * 3
    for a, b in zip(full, again, strict=True):
        np.testing.assert_array_equal(a["image"], b["image"])
    for a, b in zip(full[1:], resumed, strict=True):
        np.testing.assert_array_equal(a["image"], b["image"])
        np.testing.assert_array_equal(a["index"], b["index"])
    other_small = _batches(
        data.train_dataset(file_source, start_step=0, crop_scales=scales[:2] + ((0.3, 0.5),), **kwargs)
    )
    for a, b in zip(full, other_small, strict=True):
        np.testing.assert_array_equal(a["image"][:, :2], b["image"][:, :2])


def test_small_scale_views_see_a_small_part_of_the_image():
    side = 64
    ramp = 2 * (np.arange(side)[:, None] + np.arange(side)[None, :])
    source = data.ArraySource(
        np.repeat(ramp.astype(np.uint8)[None, :, :, None], 4, axis=0), np.zeros(4, np.int32)
    )
    batches = _batches(
        data.train_dataset(
            source,
            global_batch=4,
            seed=0,
            start_step=0,
            num_steps=2,
            host_crop=16,
            crop_scales=((0.9, 1.0), (0.05, 0.06), (0.9, 1.0)),
        )
    )
    for batch in batches:
        views = batch["image"].astype(np.int32)
        value_range = views.max(axis=(2, 3, 4)) - views.min(axis=(2, 3, 4))
        assert (value_range[:, 0] > 150).all() and (value_range[:, 2] > 150).all()
        assert (value_range[:, 1] < 0.4 * value_range[:, 0]).all()


def test_full_image_crop_is_the_image(tmp_path):
    source = _array_source(size=12)
    batches = _batches(
        data.train_dataset(
            source,
            global_batch=4,
            seed=0,
            start_step=0,
            num_steps=1,
            host_crop=12,
            crop_scales=((1.0, 1.0),) * 2,
            crop_ratio=(1.0, 1.0),
        )
    )
    indices = data.example_indices(0, num_examples=10, global_batch=4, seed=0)
    for view in range(2):
        np.testing.assert_array_equal(batches[0]["image"][:, view], source.images[indices])
    rng = np.random.default_rng(3)
    images = [_random_image(rng, 16, 16), _random_image(rng, 16, 16)]
    paths = (str(tmp_path / "a.png"), str(tmp_path / "b.jpg"))
    for path, image in zip(paths, images, strict=True):
        _write_image(path, image)
    files = data.FileSource(paths, np.zeros(2, np.int32))
    batch = _batches(
        data.train_dataset(
            files,
            global_batch=2,
            seed=0,
            start_step=0,
            num_steps=1,
            host_crop=16,
            crop_scales=((1.0, 1.0),),
            crop_ratio=(1.0, 1.0),
        )
    )[0]
    decoded = [images[0], tf.io.decode_jpeg(tf.io.read_file(paths[1])).numpy()]
    order = data.example_indices(0, num_examples=2, global_batch=2, seed=0)
    np.testing.assert_array_equal(batch["image"][:, 0], np.stack(decoded)[order])


def test_train_process_shards_concatenate_to_global_batch(file_source):
    kwargs = {"global_batch": 4, "seed": 1, "start_step": 1, "num_steps": 3, "host_crop": 8}
    whole = _batches(data.train_dataset(file_source, **kwargs))
    shards = [
        _batches(data.train_dataset(file_source, rows=range(2 * i, 2 * i + 2), **kwargs)) for i in range(2)
    ]
    for step, batch in enumerate(whole):
        for key in ("image", "label"):
            np.testing.assert_array_equal(
                batch[key], np.concatenate([shards[0][step][key], shards[1][step][key]])
            )
    assert shards[0][0]["image"].shape == (2, 2, 8, 8, 3)


def test_train_array_host_crops_keep_grayscale():
    source = _array_source(channels=1)
    batches = _batches(
        data.train_dataset(source, global_batch=2, seed=0, start_step=0, num_steps=2, host_crop=6)
    )
    assert batches[0]["image"].shape == (2, 2, 6, 6, 1)


def test_train_rejects_bad_arguments(file_source):
    for rows in (range(3, 5), range(0, 4, 2), range(0)):
        with pytest.raises(ValueError, match="contiguous range inside the global batch 4"):
            data.train_dataset(_array_source(), global_batch=4, seed=0, start_step=0, num_steps=2, rows=rows)
    with pytest.raises(ValueError, match="host_crop"):
        data.train_dataset(file_source, global_batch=2, seed=0, start_step=0, num_steps=2)
    for crop_scales in ((), ((0.08, 1.0), (0.5, 0.1)), ((0.0, 0.5),)):
        with pytest.raises(ValueError, match="crop_scales"):
            data.train_dataset(
                file_source,
                global_batch=2,
                seed=0,
                start_step=0,
                num_steps=2,
                host_crop=8,
                crop_scales=crop_scales,
            )


def test_eval_covers_every_example_once_in_order():
    source = _array_source(num=10)
    batches = _batches(data.eval_dataset(source, batch_size=4))
    assert len(batches) == 3 and all(b["image"].shape == (4, 1, 12, 12, 3) for b in batches)
    np.testing.assert_array_equal(batches[-1]["mask"], [True, True, False, False])
    mask = np.concatenate([b["mask"] for b in batches])
    np.testing.assert_array_equal(np.concatenate([b["image"][:, 0] for b in batches])[mask], source.images)
    np.testing.assert_array_equal(np.concatenate([b["label"] for b in batches])[mask], source.labels)
    shards = [
        _batches(data.eval_dataset(source, batch_size=4, rows=range(2 * i, 2 * i + 2))) for i in range(2)
    ]
    for batch, first, second in zip(batches, *shards, strict=True):
        for key in ("image", "label", "mask"):
            np.testing.assert_array_equal(batch[key], np.concatenate([first[key], second[key]]))


def test_eval_files_central_crop(file_source):
    batches = _batches(data.eval_dataset(file_source, batch_size=4, host_resize=8))
    assert [b["image"].shape for b in batches] == [(4, 1, 8, 8, 3)] * 2
    np.testing.assert_array_equal(np.concatenate([b["label"] for b in batches]), [0, 1, 2, 3, 4, 5, 5, 5])
    np.testing.assert_array_equal(batches[1]["mask"], [True, True, False, False])


def test_eval_central_crop_geometry():
    source = _array_source(num=2, size=16)
    batch = _batches(data.eval_dataset(source, batch_size=2, host_resize=14))[0]
    np.testing.assert_array_equal(batch["image"][:, 0], source.images[:, 1:15, 1:15])


def _folder_with_bad_files(root, rng):
    for name in ("a.png", "b.jpg", "c.png"):
        _write_image(str(root / "train" / "cat" / name), _random_image(rng))
    good = tf.io.encode_jpeg(_random_image(rng, 64, 64), quality=95).numpy()
    (root / "train" / "cat" / "d_truncated.jpg").write_bytes(good[: len(good) // 2])  # a valid JPEG header
    (root / "train" / "cat" / "e_text.png").write_text("not an image at all")
    (root / "train" / "cat" / "f_empty.jpg").write_bytes(b"")


def test_bad_files_of_an_image_folder_are_named_before_anything_compiles(tmp_path):
    _folder_with_bad_files(tmp_path, np.random.default_rng(0))
    with pytest.raises(files.BadImageFileError) as caught:
        data.load("folder", "train", manual_dir=str(tmp_path))
    message = str(caught.value)
    assert message.startswith("3 of 6 files")
    assert "d_truncated.jpg: it does not decode" in message
    assert "e_text.png: not a JPEG or PNG (it starts with bytes 6e6f7420616e2069)" in message
    assert "f_empty.jpg: empty" in message and "--config.data.skip_bad_files=True" in message
    train, info = data.load("folder", "train", manual_dir=str(tmp_path), skip_bad_files=True)
    assert [os.path.basename(p) for p in train.paths] == ["a.png", "b.jpg", "c.png"]
    assert [line.split(": ")[0].rsplit("/", 1)[1] for line in train.skipped] == [
        "d_truncated.jpg",
        "e_text.png",
        "f_empty.jpg",
    ]
    assert info.train_examples == 3


def test_a_folder_run_trains_without_its_bad_files_when_asked_and_lists_them(tmp_path):
    # The host-cropped file path end to end: decode, crop on the host, train, evaluate online.
    rng = np.random.default_rng(0)
    _folder_with_bad_files(tmp_path / "images", rng)
    for index in range(13):
        _write_image(str(tmp_path / "images" / "train" / "dog" / f"{index}.png"), _random_image(rng))
    config = simclr_config.get_config("dataset=folder,tiny=1")
    config.data.update(manual_dir=str(tmp_path / "images"), skip_bad_files=True)
    config.train.steps = 2
    state = train.run(config, str(tmp_path / "run"))
    assert int(state.step) == 2
    skipped = (tmp_path / "run" / "skipped_files.txt").read_text().splitlines()
    assert [line.split(": ")[0].rsplit("/", 1)[1] for line in skipped] == [
        "d_truncated.jpg",
        "e_text.png",
        "f_empty.jpg",
    ]


def test_mixed_grayscale_and_colour_files_are_decoded_to_colour_whatever_comes_first(tmp_path):
    rng = np.random.default_rng(0)
    _write_image(str(tmp_path / "1_gray.jpg"), _random_image(rng, channels=1))
    _write_image(str(tmp_path / "2_gray.png"), _random_image(rng, channels=1))
    _write_image(str(tmp_path / "3_colour.jpg"), _random_image(rng))
    assert files.header_channels(str(tmp_path / "1_gray.jpg")) == (1, None)
    assert files.header_channels(str(tmp_path / "3_colour.jpg")) == (3, None)
    source, info = data.load("folder", "train", manual_dir=str(tmp_path))
    assert source.channels == 3 and info.image_shape[-1] == 3
    batch = next(data.as_numpy(data.eval_dataset(source, batch_size=3, host_resize=16)))
    assert batch["image"].shape == (3, 1, 16, 16, 3)


def test_an_empty_class_folder_is_reported(tmp_path):
    _write_image(str(tmp_path / "train" / "cat" / "a.png"), _random_image(np.random.default_rng(0)))
    os.makedirs(tmp_path / "train" / "dog")
    with pytest.raises(data.DatasetNotFoundError, match=r"train/dog holds no .* images"):
        data.load("folder", "train", manual_dir=str(tmp_path))
