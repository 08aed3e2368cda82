"""The MNIST idx files: read gzip or raw, and every bad file is a DataError naming it."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from cli.main import main
from core.data import FILES, IMAGES_MAGIC, LABELS_MAGIC, DataError, load_split, parse_idx

TEST_LABELS = FILES[("test", "labels")].name


def idx(magic: int, shape: tuple[int, ...], data: bytes | None = None) -> bytes:
    body = bytes(int(np.prod(shape))) if data is None else data
    return struct.pack(f">I{len(shape)}I", magic, *shape) + body


@pytest.fixture()
def copy_dir(data_dir: Path, tmp_path: Path) -> Path:
    """A data folder whose files link to the shared ones; tests replace the one they break."""
    for spec in FILES.values():
        (tmp_path / spec.name).symlink_to(data_dir / spec.name)
    return tmp_path


def replace(folder: Path, name: str, content: bytes, gz: bool = True) -> Path:
    (folder / name).unlink()
    path = folder / (name if gz else name.removesuffix(".gz"))
    path.write_bytes(gzip.compress(content) if gz else content)
    return path


def test_loads_the_test_split(data_dir):
    images, labels = load_split(data_dir, "test")
    assert images.shape == (10_000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (10_000,) and set(np.unique(labels)) == set(range(10))


def test_raw_files_read_like_gzip_ones(data_dir, copy_dir):
    content = gzip.decompress((data_dir / TEST_LABELS).read_bytes())
    replace(copy_dir, TEST_LABELS, content, gz=False)
    _, labels = load_split(copy_dir, "test")
    _, expected = load_split(data_dir, "test")
    np.testing.assert_array_equal(labels, expected)


def test_parse_idx_images_and_labels():
    images = parse_idx(idx(IMAGES_MAGIC, (2, 28, 28)), IMAGES_MAGIC, "x")
    assert images.shape == (2, 28, 28)
    labels = parse_idx(idx(LABELS_MAGIC, (3,), bytes([1, 2, 9])), LABELS_MAGIC, "y")
    assert labels.tolist() == [1, 2, 9]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (idx(LABELS_MAGIC, (3,), bytes(30)), "bad magic number 2049"),
        (idx(IMAGES_MAGIC, (2, 28, 28))[:-5], "bytes, expected"),
        (idx(IMAGES_MAGIC, (2, 28, 28)) + b"x", "bytes, expected"),
        (b"\0\0\x08", "truncated header"),
    ],
    ids=["bad-magic", "truncated", "too-long", "no-header"],
)
def test_parse_idx_errors_name_the_file(content, message):
    with pytest.raises(DataError, match=message) as error:
        parse_idx(content, IMAGES_MAGIC, "some-file.gz")
    assert "some-file.gz" in str(error.value)


def test_label_out_of_range():
    with pytest.raises(DataError, match="not a digit"):
        parse_idx(idx(LABELS_MAGIC, (2,), bytes([3, 12])), LABELS_MAGIC, "labels")


def test_checksum_mismatch_names_the_file(data_dir, copy_dir):
    content = bytearray(gzip.decompress((data_dir / TEST_LABELS).read_bytes()))
    content[100] = (content[100] + 1) % 10
    path = replace(copy_dir, TEST_LABELS, bytes(content))
    with pytest.raises(DataError, match="SHA-256") as error:
        load_split(copy_dir, "test")
    assert str(path) in str(error.value)


def test_wrong_count_names_the_file(copy_dir):
    path = replace(copy_dir, TEST_LABELS, idx(LABELS_MAGIC, (5,), bytes(5)))
    with pytest.raises(DataError, match="not MNIST's") as error:
        load_split(copy_dir, "test", verify=False)
    assert str(path) in str(error.value)


def test_corrupted_gzip_names_the_file(data_dir, copy_dir):
    raw = (data_dir / TEST_LABELS).read_bytes()
    (copy_dir / TEST_LABELS).unlink()
    (copy_dir / TEST_LABELS).write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataError, match="cannot read") as error:
        load_split(copy_dir, "test")
    assert TEST_LABELS in str(error.value)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_split(tmp_path, "test")


def test_verify_command_on_good_files(data_dir, capsys):
    assert main(["data", "verify", "--data-dir", str(data_dir)]) == 0
    out = capsys.readouterr().out
    assert all(spec.name in out for spec in FILES.values())


def test_verify_command_names_the_bad_file(copy_dir, capsys):
    broken = copy_dir / TEST_LABELS
    content = broken.read_bytes()
    broken.unlink()
    broken.write_bytes(content[:-10])
    assert main(["data", "verify", "--data-dir", str(copy_dir)]) == 1
    assert TEST_LABELS in capsys.readouterr().err
