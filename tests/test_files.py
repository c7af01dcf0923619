"""Every writer of the package goes through bench.core.files: a file is replaced whole or not at all."""

import numpy as np
import pytest

from bench.core.files import atomic_file, copy_atomic, write_text_atomic


def test_a_binary_writer_that_fails_half_way_leaves_the_previous_file_and_no_temporary(tmp_path):
    path = tmp_path / "out" / "columns.npz"
    with atomic_file(path) as handle:
        np.savez_compressed(handle, a=np.arange(3))
    with pytest.raises(RuntimeError), atomic_file(path) as handle:
        handle.write(b"half a file")
        raise RuntimeError("killed")
    with np.load(path) as arrays:
        assert arrays["a"].tolist() == [0, 1, 2]
    assert [p.name for p in path.parent.iterdir()] == ["columns.npz"]


def test_a_copy_lands_whole_beside_nothing_else(tmp_path):
    write_text_atomic(tmp_path / "a" / "source.txt", "every byte\n")
    copy_atomic(tmp_path / "a" / "source.txt", tmp_path / "b" / "copy.txt")
    assert (tmp_path / "b" / "copy.txt").read_text() == "every byte\n"
    assert [p.name for p in (tmp_path / "b").iterdir()] == ["copy.txt"]
