"""Atomic writes of one file and of a folder: what appears on disk, and what errors name."""

from __future__ import annotations

import errno
import os
import stat
import sys
import time

import pytest

from tinygrad_scalar._files import (
    MAX_READ_BYTES,
    STALE_SECONDS,
    FileRefused,
    NotARegularFile,
    StagedFolder,
    atomic_write,
    check_writable,
    read_limited,
    usual_mode,
)

needs_proc = pytest.mark.skipif(
    not sys.platform.startswith("linux") or not os.path.isdir("/proc/self"),
    reason="uses /proc, a folder where even root cannot create files",
)


@pytest.fixture
def umask_027():
    previous = os.umask(0o027)
    yield
    os.umask(previous)


def test_usual_mode_applies_the_umask(umask_027):
    assert usual_mode(0o666) == 0o640
    assert usual_mode(0o777) == 0o750


def test_atomic_write_gives_the_usual_mode_and_leaves_no_temporary_file(tmp_path, umask_027):
    with atomic_write(tmp_path / "a.txt", "w") as file:
        file.write("hello")
    assert (tmp_path / "a.txt").read_text() == "hello"
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o640
    assert os.listdir(tmp_path) == ["a.txt"]


def test_atomic_write_into_a_missing_folder_names_the_destination(tmp_path):
    destination = str(tmp_path / "missing" / "x.svg")
    with pytest.raises(FileNotFoundError) as caught, atomic_write(destination) as file:
        file.write(b"never")
    assert caught.value.filename == destination
    assert ".tmp" not in str(caught.value)


def test_a_write_error_names_the_destination_and_keeps_the_old_file(tmp_path):
    destination = tmp_path / "model.json"
    destination.write_text("old")
    with pytest.raises(OSError) as caught, atomic_write(destination, "w") as file:
        file.write("half")
        raise OSError(28, "No space left on device")  # what a full disk raises
    assert caught.value.errno == 28 and caught.value.filename == str(destination)
    assert destination.read_text() == "old"
    assert os.listdir(tmp_path) == ["model.json"]


def test_a_failed_rename_names_the_destination_not_the_temporary_file(tmp_path, monkeypatch):
    destination = tmp_path / "taken.svg"

    def failing_rename(source, target):  # as a rename over a busy or vanished target fails
        raise OSError(errno.EBUSY, os.strerror(errno.EBUSY), source, None, target)

    monkeypatch.setattr(os, "replace", failing_rename)
    with pytest.raises(OSError) as caught, atomic_write(destination) as file:
        file.write(b"<svg/>")
    assert caught.value.errno == errno.EBUSY
    assert caught.value.filename == str(destination)
    assert ".tmp" not in str(caught.value)
    assert os.listdir(tmp_path) == []


def test_a_folder_in_the_way_is_refused_before_anything_is_written(tmp_path):
    destination = tmp_path / "taken.svg"
    destination.mkdir()
    with pytest.raises(NotARegularFile) as caught, atomic_write(destination) as file:
        file.write(b"<svg/>")
    assert caught.value.filename == str(destination)
    assert "it is a folder, not a regular file" in str(caught.value)
    assert os.listdir(tmp_path) == ["taken.svg"] and os.listdir(destination) == []


def test_an_error_that_names_another_file_is_left_alone(tmp_path):
    with pytest.raises(FileNotFoundError) as caught, atomic_write(tmp_path / "out.txt", "w"):
        open(tmp_path / "no-such-input.txt")  # noqa: SIM115 - it fails before a file exists
    assert caught.value.filename == str(tmp_path / "no-such-input.txt")
    assert os.listdir(tmp_path) == []


def test_the_longest_file_name_the_file_system_takes_can_be_written(tmp_path):
    name = "m" * 250 + ".json"  # 255 bytes, the usual limit for one name
    check_writable(tmp_path / name)
    with atomic_write(tmp_path / name, "w") as file:
        file.write("{}")
    with StagedFolder(tmp_path / name[:-5]) as staging:
        staging.publish()
    assert sorted(os.listdir(tmp_path)) == [name[:-5], name]


def test_check_writable_leaves_nothing_behind(tmp_path):
    check_writable(tmp_path / "a.svg")
    assert os.listdir(tmp_path) == []
    with pytest.raises(FileNotFoundError) as caught:
        check_writable(tmp_path / "missing" / "a.svg")
    assert caught.value.filename == str(tmp_path / "missing" / "a.svg")


@needs_proc
def test_check_writable_tries_for_real_where_permission_bits_say_yes():
    with pytest.raises(OSError) as caught:
        check_writable("/proc/a.svg")
    assert caught.value.filename == "/proc/a.svg"


def test_a_new_folder_appears_complete(tmp_path, umask_027):
    out = tmp_path / "deep" / "run"
    with StagedFolder(out) as staging:
        assert not out.exists()  # nothing visible until publish
        (open(os.path.join(staging.path, "b.txt"), "w")).close()
        (open(os.path.join(staging.path, "a.txt"), "w")).close()
        written = staging.publish()
    assert written == [str(out / "a.txt"), str(out / "b.txt")]
    assert sorted(os.listdir(out)) == ["a.txt", "b.txt"]
    assert os.listdir(out.parent) == ["run"]  # no staging folder left beside it
    assert stat.S_IMODE(out.stat().st_mode) == 0o750
    assert stat.S_IMODE((out / "a.txt").stat().st_mode) == 0o640


def test_an_existing_folder_keeps_its_other_files_and_is_staged_inside(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    (out / "model.json").write_text("old")
    with StagedFolder(out) as staging:
        # inside: the final moves are renames within one folder's file system
        assert os.path.dirname(staging.path) == str(out)
        with open(os.path.join(staging.path, "model.json"), "w") as file:
            file.write("new")
        staging.publish()
    assert sorted(os.listdir(out)) == ["model.json", "notes.txt"]
    assert (out / "model.json").read_text() == "new"
    assert (out / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("exists", [False, True])
def test_an_error_before_publishing_leaves_the_disk_as_it_was(tmp_path, exists):
    out = tmp_path / "a" / "b" / "run"
    if exists:
        out.mkdir(parents=True)
    with pytest.raises(RuntimeError), StagedFolder(out) as staging:
        with open(os.path.join(staging.path, "model.json"), "w") as file:
            file.write("half")
        raise RuntimeError("training failed")
    if exists:
        assert os.listdir(out) == []
    else:
        assert os.listdir(tmp_path) == []  # the parent folders it made are gone too


@needs_proc
def test_a_folder_that_refuses_new_entries_is_found_at_create_and_named():
    with pytest.raises(OSError) as caught:
        StagedFolder("/proc").create()
    assert caught.value.filename == "/proc"


# --- reading -----------------------------------------------------------------------------------


def test_read_limited_reads_a_regular_file(tmp_path):
    (tmp_path / "m.json").write_bytes(b"{}")
    assert read_limited(tmp_path / "m.json") == b"{}"


@pytest.mark.parametrize(
    "path, kind",
    [
        ("/dev/zero", "a character device"),
        ("/dev/urandom", "a character device"),
        ("/", "a folder"),
    ],
)
def test_read_limited_refuses_what_is_not_a_regular_file(path, kind):
    if not os.path.exists(path):
        pytest.skip(f"{path} does not exist here")
    with pytest.raises(FileRefused) as caught:
        read_limited(path)
    assert caught.value.reason == f"it is {kind}, not a regular file"
    assert str(caught.value) == f"cannot read {path!r}: {caught.value.reason}"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes on this system")
def test_read_limited_refuses_a_named_pipe_without_waiting_for_a_writer(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(FileRefused, match="named pipe"):
        read_limited(tmp_path / "pipe")


def test_read_limited_refuses_a_file_over_the_limit_before_reading(tmp_path):
    sparse = tmp_path / "big.json"
    with open(sparse, "wb") as file:
        file.truncate(MAX_READ_BYTES + 1)  # sparse: no disk space, but stat says 64 MiB + 1
    with pytest.raises(FileRefused, match="more than the 64 MiB limit"):
        read_limited(sparse)
    assert MAX_READ_BYTES == 64 * 1024 * 1024  # the README states this number


@needs_proc
def test_read_limited_stops_at_the_limit_when_stat_says_the_size_is_zero():
    assert os.stat("/proc/self/maps").st_size == 0  # /proc files claim to be empty
    with pytest.raises(FileRefused, match="more than the 100 bytes limit"):
        read_limited("/proc/self/maps", limit=100)


def test_read_limited_names_a_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError) as caught:
        read_limited(tmp_path / "missing.json")
    assert caught.value.filename == str(tmp_path / "missing.json")


# --- replacing files: permissions, links, read-only files, leftovers, errors -------------------


def write_with_atomic_write(path, text):
    with atomic_write(path, "w") as file:
        file.write(text)


def write_with_staged_folder(path, text):
    with StagedFolder(os.path.dirname(path)) as staging:
        with open(os.path.join(staging.path, os.path.basename(path)), "w") as file:
            file.write(text)
        staging.publish()


WRITERS = [write_with_atomic_write, write_with_staged_folder]


@pytest.mark.parametrize("write", WRITERS)
def test_saving_over_a_private_file_keeps_it_private(tmp_path, write):
    (tmp_path / "model.json").write_text("old")
    os.chmod(tmp_path / "model.json", 0o600)
    write(str(tmp_path / "model.json"), "new")
    assert (tmp_path / "model.json").read_text() == "new"
    assert stat.S_IMODE((tmp_path / "model.json").stat().st_mode) == 0o600


@pytest.mark.parametrize("write", WRITERS)
def test_saving_to_a_symbolic_link_writes_the_file_it_points_to(tmp_path, write):
    (tmp_path / "elsewhere").mkdir()
    real = tmp_path / "elsewhere" / "real.json"
    real.write_text("old")
    (tmp_path / "model.json").symlink_to(real)
    write(str(tmp_path / "model.json"), "new")
    assert (tmp_path / "model.json").is_symlink()  # the link stays a link
    assert real.read_text() == "new"
    assert os.listdir(tmp_path / "elsewhere") == ["real.json"]


@pytest.mark.parametrize("write", WRITERS)
def test_saving_over_a_read_only_file_is_refused_even_for_root(tmp_path, write):
    (tmp_path / "model.json").write_text("old")
    os.chmod(tmp_path / "model.json", 0o444)  # root could replace it: os.access says yes
    with pytest.raises(PermissionError) as caught:
        write(str(tmp_path / "model.json"), "new")
    assert caught.value.filename == str(tmp_path / "model.json")
    assert "read-only (mode 0444)" in str(caught.value)
    assert (tmp_path / "model.json").read_text() == "old"
    assert os.listdir(tmp_path) == ["model.json"]


def test_check_writable_refuses_a_read_only_file_before_any_work(tmp_path):
    (tmp_path / "f.svg").write_text("old")
    os.chmod(tmp_path / "f.svg", 0o444)
    with pytest.raises(PermissionError, match="read-only"):
        check_writable(tmp_path / "f.svg")


def make_leftover(path, folder=False, age=STALE_SECONDS + 60):
    if folder:
        os.mkdir(path)
        with open(os.path.join(path, "model.json"), "w") as file:
            file.write("half")
    else:
        with open(path, "w") as file:
            file.write("half")
    then = time.time() - age
    os.utime(path, (then, then))
    return path


def test_temporary_files_of_a_killed_write_are_removed_by_the_next(tmp_path):
    old = make_leftover(tmp_path / ".model.json.k1ll3d_1.tmp")
    recent = make_leftover(tmp_path / ".model.json.runn1ng2.tmp", age=5)
    other = make_leftover(tmp_path / ".notes.txt.abcdefgh.tmp")  # another file's
    write_with_atomic_write(tmp_path / "model.json", "new")
    assert not old.exists()
    assert recent.exists() and other.exists()


@pytest.mark.skipif(sys.platform.startswith("win"), reason="file locks are POSIX here")
def test_an_old_temporary_file_still_locked_by_a_live_writer_is_kept(tmp_path):
    import fcntl

    busy = make_leftover(tmp_path / ".model.json.w0rk1ng_.tmp")
    with open(busy) as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # what atomic_write holds while it writes
        write_with_atomic_write(tmp_path / "model.json", "new")
        assert busy.exists()


def test_staging_folders_of_a_killed_run_are_removed_by_the_next(tmp_path):
    beside = make_leftover(tmp_path / ".run.k1ll3d_1", folder=True)
    with StagedFolder(tmp_path / "run") as staging:
        staging.publish()
    assert not beside.exists()
    inside = make_leftover(tmp_path / "run" / ".staging-k1ll3d_2", folder=True)
    recent = make_leftover(tmp_path / "run" / ".staging-runn1ng3", folder=True, age=5)
    with StagedFolder(tmp_path / "run") as staging:
        staging.publish()
    assert not inside.exists() and recent.exists()


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EIO])
def test_a_failed_fsync_names_the_destination(tmp_path, monkeypatch, code):
    def failing_fsync(fd):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError) as caught:
        write_with_atomic_write(tmp_path / "model.json", "new")
    assert caught.value.errno == code
    assert caught.value.filename == str(tmp_path / "model.json")
    assert os.listdir(tmp_path) == []


def test_a_failed_write_inside_a_staging_folder_names_the_file_in_out(tmp_path, monkeypatch):
    def failing_fsync(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", failing_fsync)
    out = tmp_path / "run"
    with pytest.raises(OSError) as caught, StagedFolder(out) as staging:
        write_with_atomic_write(os.path.join(staging.path, "model.json"), "new")
    assert caught.value.filename == os.path.join(str(out), "model.json")
    assert os.listdir(tmp_path) == []
