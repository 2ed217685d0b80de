"""Reading and writing files safely, shared by models, plots, graphs and the command line.

Reading (`read_limited`): only regular files, and at most `MAX_READ_BYTES`, so a device
(/dev/zero), a named pipe or a huge file is refused at once instead of filling memory or
waiting forever. Writing: one file (`atomic_write`) or a folder of files (`StagedFolder`),
so that a failure loses nothing.

Errors name the path the caller asked for, never a temporary file or folder.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from typing import IO, Any, Iterator

from .expr import quote_input

# The most a file we read may hold. A model at the command line's parameter limit is a few
# MB of JSON, so this is plenty, and reading it takes well under a second.
MAX_READ_BYTES = 64 * 1024 * 1024


class FileRefused(ValueError):
    """A file `read_limited` will not read: not a regular file, or larger than the limit.
    `reason` says why without the path; str() names the path too."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"cannot read {quote_input(path)}: {reason}")
        self.path = path
        self.reason = reason


def _kind(mode: int) -> str:
    """What a non-regular file is, in words."""
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):,.0f} MiB" if size >= 1024 * 1024 else f"{size:,} bytes"


def read_limited(path: str | os.PathLike, limit: int = MAX_READ_BYTES) -> bytes:
    """The bytes of the regular file at `path`, refusing (FileRefused) anything else: a
    folder, a device such as /dev/zero, a named pipe, or a file larger than `limit` bytes.

    The size is checked before reading, and the reading stops after `limit` + 1 bytes
    anyway, for files whose size is not what stat says (/proc). A pipe is opened without
    blocking, so nothing waits for a writer. An OSError names `path`.
    """
    path = os.fspath(path)
    try:
        before = os.stat(path)  # refuse devices and pipes without even opening them
        if not stat.S_ISREG(before.st_mode):
            raise FileRefused(path, f"it is {_kind(before.st_mode)}, not a regular file")
        flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
        fd = os.open(path, flags | getattr(os, "O_BINARY", 0))
    except OSError as error:
        raise _naming(error, path) from None
    try:
        info = os.fstat(fd)  # what was opened: the name may have changed since the stat
        if not stat.S_ISREG(info.st_mode):
            raise FileRefused(path, f"it is {_kind(info.st_mode)}, not a regular file")
        if info.st_size > limit:
            raise FileRefused(
                path, f"it is {_megabytes(info.st_size)}, more than the {_megabytes(limit)} limit"
            )
        chunks, total = [], 0
        while total <= limit:
            chunk = os.read(fd, min(1024 * 1024, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > limit:
            raise FileRefused(path, f"it holds more than the {_megabytes(limit)} limit")
        return b"".join(chunks)
    except OSError as error:
        raise _naming(error, path) from None
    finally:
        os.close(fd)


def usual_mode(mode: int) -> int:
    """`mode` as the user's umask would leave it: what a plain open() or mkdir() would give.

    Temporary files and folders are made private (0600, 0700); published files get this.
    """
    umask = os.umask(0)
    os.umask(umask)
    return mode & ~umask


def _temporary_prefix(path: str) -> str:
    """A hidden name beginning for temporary files beside `path`, kept short: a name that
    fits the file system must not fail because its temporary twin is longer."""
    return f".{os.path.basename(path)[:100]}."


def _naming(error: OSError, path: str) -> OSError:
    """The same error, but about `path` (the destination) instead of a temporary name."""
    if error.errno is None:
        return error
    return type(error)(error.errno, error.strerror, path)


def check_writable(path: str | os.PathLike) -> None:
    """Raise the OSError (naming `path`) that `atomic_write(path)` would meet in its folder,
    before any work is done. A temporary file is made there and removed at once, because
    permission bits alone do not tell (root ignores them; /proc and read-only mounts refuse
    anyway)."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    try:
        fd, temporary = tempfile.mkstemp(dir=directory, prefix=_temporary_prefix(path))
    except OSError as error:
        raise _naming(error, path) from None
    os.close(fd)
    os.unlink(temporary)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temporary file next to `path`; when the block ends without an error, move it
    onto `path` in one rename. An error (or an interrupt) removes the temporary file, so a
    half-written file never appears and an existing file is never destroyed. An OSError
    names `path`, not the temporary file.

    >>> with atomic_write("out.txt", "w") as f: f.write("hello")  # doctest: +SKIP
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    try:
        fd, temporary = tempfile.mkstemp(
            dir=directory, prefix=_temporary_prefix(path), suffix=".tmp"
        )
    except OSError as error:
        raise _naming(error, path) from None
    try:
        encoding = None if "b" in mode else "utf-8"
        with os.fdopen(fd, mode, encoding=encoding) as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, usual_mode(0o666))
        os.replace(temporary, path)
    except OSError as error:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        # A write error (a full disk) has no file name, a rename error names the temporary
        # file: both are about `path`. Errors naming another file are left as they are.
        if error.filename in (None, temporary):
            raise _naming(error, path) from None
        raise
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


class StagedFolder:
    """Fill a folder so that it appears complete or not at all.

    `create()` makes a private temporary folder where the files will go: inside `out` when
    `out` is an existing folder (so publishing is a rename within one file system and needs
    no permission on out's parent), otherwise beside `out` (and then `out` appears in one
    rename). `publish()` moves the files into place. Leaving the `with` block without
    publishing removes the temporary folder and any parent folders `create()` made, so a
    failure or an interrupt leaves the disk as it was.

    >>> with StagedFolder("results") as staging:  # doctest: +SKIP
    ...     write_files_into(staging.path)
    ...     staging.publish()
    """

    def __init__(self, out: str | os.PathLike) -> None:
        self.out = os.fspath(out)
        self.path: str | None = None  # the temporary folder, once created
        self._made_parents: list[str] = []  # created by create(), deepest last
        self._inside_out = False  # staging inside an existing `out`, or beside a new one
        self._published = False

    def create(self) -> str:
        """Make the temporary folder (once) and return its path; an OSError names `out`."""
        if self.path is not None:
            return self.path
        target = os.path.abspath(self.out)
        try:
            if os.path.isdir(target):
                self.path = tempfile.mkdtemp(dir=target, prefix=".staging-")
                self._inside_out = True
            else:
                parent = os.path.dirname(target)
                missing = []
                while not os.path.exists(parent):
                    missing.append(parent)
                    parent = os.path.dirname(parent)
                for folder in reversed(missing):
                    os.mkdir(folder)
                    self._made_parents.append(folder)
                self.path = tempfile.mkdtemp(
                    dir=os.path.dirname(target), prefix=_temporary_prefix(target)
                )
        except OSError as error:
            self._remove_made_parents()
            raise _naming(error, self.out) from None
        return self.path

    def publish(self) -> list[str]:
        """Move the finished files into `out`; returns their paths under `out`, sorted."""
        staging = self.create()
        names = sorted(os.listdir(staging))
        try:
            for name in names:
                os.chmod(os.path.join(staging, name), usual_mode(0o666))
            if self._inside_out:
                for name in names:
                    os.replace(os.path.join(staging, name), os.path.join(self.out, name))
                os.rmdir(staging)
            else:
                os.chmod(staging, usual_mode(0o777))
                os.rename(staging, self.out)  # a brand-new folder appears complete
        except OSError as error:
            raise _naming(error, self.out) from None
        self._published = True
        return [os.path.join(self.out, name) for name in names]

    def __enter__(self) -> StagedFolder:
        self.create()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.path is not None and not self._published:
            shutil.rmtree(self.path, ignore_errors=True)
            self._remove_made_parents()

    def _remove_made_parents(self) -> None:
        for folder in reversed(self._made_parents):
            with contextlib.suppress(OSError):
                os.rmdir(folder)  # only if still empty
        self._made_parents = []
