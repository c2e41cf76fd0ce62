"""The one output writer: only regular files, modes it chose, names that fit, nothing half-written."""

from __future__ import annotations

import errno
import json
import os
import stat
from pathlib import Path

import pytest

from shapetrace.errors import UsageError
from shapetrace.fileio import (
    atomic_path,
    atomic_write,
    cannot_write,
    name_limit,
    refusal,
    remove_stale,
    validate_writable,
)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_the_writer_refuses_what_is_not_a_regular_file(tmp_path):
    fifo = tmp_path / "pipe.svg"
    os.mkfifo(fifo)
    target = tmp_path / "target.json"
    target.write_text("mine\n")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    for path, needle in ((fifo, "named pipe"), (link, "symbolic link"), (Path("/dev/null"), "device")):
        with pytest.raises(UsageError, match=needle):
            validate_writable(path, "svg")
        with pytest.raises(UsageError, match=needle):
            atomic_write(path, "x")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and link.is_symlink() and target.read_text() == "mine\n"
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_a_replaced_file_keeps_no_setuid_bit_and_a_new_one_gets_the_umask(tmp_path):

    old = tmp_path / "old.json"
    old.write_text("x")
    os.chmod(old, 0o4755)
    atomic_write(old, "y")
    assert stat.S_IMODE(os.stat(old).st_mode) == 0o755
    mask = os.umask(0o022)
    os.umask(mask)
    new = tmp_path / "new.json"
    atomic_write(new, "z")
    assert stat.S_IMODE(os.stat(new).st_mode) == 0o666 & ~mask


def test_a_name_at_the_file_systems_limit_is_written_and_one_past_it_is_one_line(tmp_path):
    limit = name_limit(tmp_path)
    at_limit = tmp_path / ("n" * (limit - 5) + ".json")
    atomic_write(at_limit, "{}\n")
    assert at_limit.read_text() == "{}\n" and sorted(p.name for p in tmp_path.iterdir()) == [at_limit.name]
    with pytest.raises(UsageError, match="allows at most"):
        atomic_write(tmp_path / ("n" * (limit + 1)), "x")


def test_a_lone_surrogate_is_written_escaped_not_an_internal_error(tmp_path):

    path = tmp_path / "s.json"
    atomic_write(path, json.dumps({"name": "a\ud800b"}, ensure_ascii=False))
    assert json.loads(path.read_text()) == {"name": "a\ud800b"}


def test_a_stale_obtained_file_in_a_read_only_folder_is_left_not_an_error(tmp_path):
    (tmp_path / "x.obtained.json").write_text("{}")
    os.chmod(tmp_path, 0o555)
    try:
        remove_stale(tmp_path / "x.obtained.json")  # as root it is removed; otherwise it stays
        remove_stale(tmp_path / ("n" * 400))
    finally:
        os.chmod(tmp_path, 0o755)


def test_a_clean_block_renames_its_temporary_onto_the_path(tmp_path):
    path = tmp_path / "model.keras"
    path.write_text("old")
    with atomic_path(path, suffix=".keras") as temporary:
        assert temporary.parent == tmp_path and temporary.name.endswith(".keras") and temporary != path
        assert temporary.exists() and temporary.read_text() == ""  # created empty, beside the path
        temporary.write_text("new")
        assert path.read_text() == "old"  # not yet in place
    assert path.read_text() == "new" and sorted(p.name for p in tmp_path.iterdir()) == ["model.keras"]


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt()])
def test_any_exception_leaves_the_old_file_and_no_temporary(tmp_path, error):
    path = tmp_path / "net.json"
    path.write_text("old")
    with pytest.raises(type(error)), atomic_path(path) as temporary:
        temporary.write_text("half")
        raise error
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["net.json"]


def test_refusal_says_why_or_nothing(tmp_path):
    assert refusal(tmp_path / "new.json") is None
    (tmp_path / "old.json").write_text("x")
    assert refusal(tmp_path / "old.json") is None  # a regular file is replaced
    assert "a directory" in refusal(tmp_path)
    assert "does not exist" in refusal(tmp_path / "missing" / "new.json")
    assert "NUL" in refusal(tmp_path / "a\x00b.json")
    (tmp_path / "file").write_text("x")
    assert "is not a folder" in refusal(tmp_path / "file" / "new.json")


def test_validate_writable_names_the_parameter_and_expands_the_home(tmp_path, monkeypatch):
    with pytest.raises(UsageError, match=r"Cannot write svg='.*missing/t\.svg': the folder") as info:
        validate_writable(tmp_path / "missing" / "t.svg", "svg")
    assert info.value.params == ("svg",)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert validate_writable("~/t.svg") == tmp_path / "t.svg"


def test_an_os_error_is_one_line():
    error = cannot_write(Path("out.json"), OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))
    assert str(error) == f"Cannot write 'out.json': {os.strerror(errno.ENOSPC)}."
