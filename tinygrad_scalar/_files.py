"""Writing files so that a failure loses nothing: one file (`atomic_write`) or a folder of
files (`StagedFolder`), shared by models, plots, graphs and the command line.

Errors name the destination the caller asked for, never the temporary file or folder.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from typing import IO, Any, Iterator


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
