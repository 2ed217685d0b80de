"""Reading and writing files safely, shared by models, plots, graphs and the command line.

Reading (`read_limited`): only regular files, and at most `MAX_READ_BYTES`, so a device
(/dev/zero), a named pipe or a huge file is refused at once instead of filling memory or
waiting forever. Writing: one file (`atomic_write`) or a folder of files (`StagedFolder`),
so that a failure loses nothing.

Errors name the path the caller asked for, never a temporary file or folder.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import stat
import tempfile
import time
from typing import IO, Any, Iterator

try:
    import fcntl  # file locks: POSIX only
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

from ._checks import quote_input

# The most a file we read may hold. A model at the command line's parameter limit is a few
# MB of JSON, so this is plenty, and reading it takes well under a second.
MAX_READ_BYTES = 64 * 1024 * 1024
# Temporary files and staging folders older than this, and not locked by a live process,
# were left by a killed one: the next write to the same place removes them.
STALE_SECONDS = 10 * 60


class NotARegularFile(OSError):
    """A write refused because its target exists and is not a regular file (a device such
    as /dev/null, a named pipe, a socket, a folder): replacing it by a rename would destroy
    it, and writing into it is not saving. `strerror` says what it is; `filename` names the
    path the caller gave.

    >>> str(not_a_regular_file(stat.S_IFIFO, "d/out.svg"))
    "cannot write 'd/out.svg': it is a named pipe (FIFO), not a regular file"
    """

    def __str__(self) -> str:
        return f"cannot write {quote_input(self.filename)}: {self.strerror}"


def not_a_regular_file(mode: int, path: str) -> NotARegularFile:
    """The NotARegularFile error for a write to `path`, where the file's mode is `mode`."""
    return NotARegularFile(errno.EEXIST, f"it is {kind_of_file(mode)}, not a regular file", path)


class FileRefused(ValueError):
    """A file `read_limited` will not read: not a regular file, or larger than the limit.
    `reason` says why without the path; str() names the path too."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"cannot read {quote_input(path)}: {reason}")
        self.path = path
        self.reason = reason


def kind_of_file(mode: int) -> str:
    """What a non-regular file is, in words (from its st_mode)."""
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
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
            raise FileRefused(path, f"it is {kind_of_file(before.st_mode)}, not a regular file")
        flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
        fd = os.open(path, flags | getattr(os, "O_BINARY", 0))
    except OSError as error:
        raise _naming(error, path) from None
    try:
        info = os.fstat(fd)  # what was opened: the name may have changed since the stat
        if not stat.S_ISREG(info.st_mode):
            raise FileRefused(path, f"it is {kind_of_file(info.st_mode)}, not a regular file")
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


# --- replacing an existing file ----------------------------------------------------------------


def _existing_file(target: str, path: str) -> os.stat_result | None:
    """The status of the regular file at `target` (what `path` resolves to) that a write will
    replace, or None when there is none. Anything else there (a device, a named pipe, a
    socket, a folder) is refused with NotARegularFile naming `path`, and so is a file its
    owner made read-only (no write bit, which root's os.access ignores) or that we may not
    write (PermissionError): replacing either by a rename would succeed, silently. Run as
    root, a rename over a device node replaces the node itself (/dev/null included)."""
    try:
        info = os.stat(target)
    except (FileNotFoundError, NotADirectoryError):
        return None  # a new file (whether its folder can be made is checked elsewhere)
    except OSError as error:
        raise _naming(error, path) from None
    if not stat.S_ISREG(info.st_mode):
        raise not_a_regular_file(info.st_mode, path)
    mode = stat.S_IMODE(info.st_mode)
    if not mode & 0o222:
        raise PermissionError(errno.EACCES, f"the file is read-only (mode {mode:04o})", path)
    if not os.access(target, os.W_OK):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), path)
    return info


def check_replaceable(path: str | os.PathLike) -> None:
    """Raise the error (naming `path`) that a write to `path` would meet because what is
    there is not a regular file (NotARegularFile) or is read-only (PermissionError);
    nothing when it is a writable file or absent."""
    path = os.fspath(path)
    _existing_file(os.path.realpath(path), path)


def _take_over(temporary: str, replaced: os.stat_result | None) -> None:
    """Give a finished temporary file the permission bits (and, where allowed, the owner) of
    the file it replaces, or the usual bits for a new file: saving over a 0600 file keeps it
    private."""
    if replaced is None:
        os.chmod(temporary, usual_mode(0o666))
        return
    with contextlib.suppress(OSError):  # only root may give a file away; then keep ours
        if (replaced.st_uid, replaced.st_gid) != (os.geteuid(), os.getegid()):
            os.chown(temporary, replaced.st_uid, replaced.st_gid)
    os.chmod(temporary, stat.S_IMODE(replaced.st_mode))


# --- leftovers of killed processes -------------------------------------------------------------


def _lock(fd: int) -> None:
    """Mark a temporary file or folder as in use for as long as `fd` is open (the lock goes
    when the process dies, however it dies), so `remove_stale` leaves it alone."""
    if fcntl is not None:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def _in_use(path: str) -> bool:
    if fcntl is None:
        return False
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return True  # cannot tell: leave it
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)  # also releases our lock
    return False


def remove_stale(directory: str, prefix: str, suffix: str, folders: bool) -> None:
    """Remove the temporary files (or, with `folders`, staging folders) that a killed process
    left in `directory`: names made by tempfile from `prefix` and `suffix` (8 random
    characters between), untouched for STALE_SECONDS and not locked by a live process.
    Best effort: a leftover that cannot be removed is left."""
    pattern = re.compile(re.escape(prefix) + r"[a-z0-9_]{8}" + re.escape(suffix) + r"\Z")
    try:
        names = [name for name in os.listdir(directory) if pattern.match(name)]
    except OSError:
        return
    now = time.time()
    for name in names:
        leftover = os.path.join(directory, name)
        try:
            info = os.lstat(leftover)
        except OSError:
            continue
        is_folder = stat.S_ISDIR(info.st_mode)
        if is_folder != folders or not (is_folder or stat.S_ISREG(info.st_mode)):
            continue
        if now - info.st_mtime < STALE_SECONDS or _in_use(leftover):
            continue
        if is_folder:
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                os.unlink(leftover)


# --- writing one file --------------------------------------------------------------------------


def check_writable(path: str | os.PathLike) -> None:
    """Raise the OSError (naming `path`) that `atomic_write(path)` would meet, before any
    work is done: a device, pipe, socket or folder in the way (NotARegularFile), a
    read-only file, or a folder that refuses new files. A
    temporary file is made there and removed at once, because permission bits alone do not
    tell (root ignores them; /proc and read-only mounts refuse anyway)."""
    path = os.fspath(path)
    target = os.path.realpath(path)
    _existing_file(target, path)
    try:
        fd, temporary = tempfile.mkstemp(
            dir=os.path.dirname(target), prefix=_temporary_prefix(target), suffix=".tmp"
        )
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

    As an editor saves: a symbolic link is followed (the file it points to is replaced, the
    link stays), an existing file keeps its permission bits, and a read-only file is
    refused (PermissionError). A target that exists and is not a regular file (a device,
    a named pipe, a socket, a folder) is refused before anything is written
    (NotARegularFile). Temporary files of this name that a killed process left
    here more than STALE_SECONDS ago are removed.

    >>> with atomic_write("out.txt", "w") as f: f.write("hello")  # doctest: +SKIP
    """
    path = os.fspath(path)
    target = os.path.realpath(path)
    replaced = _existing_file(target, path)
    directory, prefix = os.path.dirname(target), _temporary_prefix(target)
    remove_stale(directory, prefix, ".tmp", folders=False)
    try:
        fd, temporary = tempfile.mkstemp(dir=directory, prefix=prefix, suffix=".tmp")
    except OSError as error:
        raise _naming(error, path) from None
    try:
        _lock(fd)
        encoding = None if "b" in mode else "utf-8"
        with os.fdopen(fd, mode, encoding=encoding) as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        _take_over(temporary, replaced)
        os.replace(temporary, target)
    except OSError as error:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        # A write error (a full disk) has no file name, a rename error names the temporary
        # file: both are about `path`. Errors naming another file are left as they are.
        if error.filename in (None, temporary, target):
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
    rename). `publish()` moves the files into place, each as `atomic_write` would: through a
    symbolic link, keeping an existing file's permission bits, refusing a read-only one.
    Leaving the `with` block without publishing removes the temporary folder and any parent
    folders `create()` made, so a failure or an interrupt leaves the disk as it was; an
    OSError leaving the block names `out`, not the temporary folder. Staging folders that a
    killed process left more than STALE_SECONDS ago are removed by `create()`.

    >>> with StagedFolder("results") as staging:  # doctest: +SKIP
    ...     write_files_into(staging.path)
    ...     staging.publish()
    """

    STAGING_PREFIX = ".staging-"  # the temporary folder's name inside an existing `out`

    def __init__(self, out: str | os.PathLike) -> None:
        self.out = os.fspath(out)
        self.path: str | None = None  # the temporary folder, once created
        self._made_parents: list[str] = []  # created by create(), deepest last
        self._inside_out = False  # staging inside an existing `out`, or beside a new one
        self._published = False
        self._lock_fd: int | None = None  # holds the staging folder's lock while we live

    def create(self) -> str:
        """Make the temporary folder (once) and return its path; an OSError names `out`."""
        if self.path is not None:
            return self.path
        target = os.path.abspath(self.out)
        try:
            if os.path.isdir(target):
                remove_stale(target, self.STAGING_PREFIX, "", folders=True)
                self.path = tempfile.mkdtemp(dir=target, prefix=self.STAGING_PREFIX)
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
                remove_stale(os.path.dirname(target), _temporary_prefix(target), "", folders=True)
                self.path = tempfile.mkdtemp(
                    dir=os.path.dirname(target), prefix=_temporary_prefix(target)
                )
        except OSError as error:
            self._remove_made_parents()
            raise _naming(error, self.out) from None
        with contextlib.suppress(OSError):
            self._lock_fd = os.open(self.path, os.O_RDONLY)
            _lock(self._lock_fd)
        return self.path

    def publish(self) -> list[str]:
        """Move the finished files into `out`; returns their paths under `out`, sorted."""
        staging = self.create()
        names = sorted(os.listdir(staging))
        try:
            if self._inside_out:
                for name in names:
                    self._publish_file(os.path.join(staging, name), os.path.join(self.out, name))
                os.rmdir(staging)
            else:
                for name in names:
                    os.chmod(os.path.join(staging, name), usual_mode(0o666))
                os.chmod(staging, usual_mode(0o777))
                os.rename(staging, self.out)  # a brand-new folder appears complete
        except OSError as error:
            if isinstance(error.filename, str) and not error.filename.startswith(staging):
                raise  # already names a file in `out`
            raise _naming(error, self.out) from None
        self._published = True
        self._unlock()
        return [os.path.join(self.out, name) for name in names]

    @staticmethod
    def _publish_file(staged: str, destination: str) -> None:
        """Move one finished file onto `destination` as atomic_write would; an OSError names
        `destination`."""
        target = os.path.realpath(destination)
        if os.path.dirname(target) != os.path.dirname(os.path.dirname(os.path.realpath(staged))):
            # a symbolic link to another folder, maybe another file system: copy it there
            with open(staged, "rb") as source, atomic_write(destination) as copy:
                shutil.copyfileobj(source, copy)
            os.unlink(staged)
            return
        try:
            _take_over(staged, _existing_file(target, destination))
            os.replace(staged, target)
        except OSError as error:
            raise _naming(error, destination) from None

    def __enter__(self) -> StagedFolder:
        self.create()
        return self

    def __exit__(self, kind: Any, error: BaseException | None, traceback: Any) -> None:
        self._unlock()
        if self.path is not None and not self._published:
            shutil.rmtree(self.path, ignore_errors=True)
            self._remove_made_parents()
        if isinstance(error, OSError) and self.path is not None:
            renamed = self._about_out(error)
            if renamed is not error:
                raise renamed from None

    def _about_out(self, error: OSError) -> OSError:
        """`error` with the temporary folder's path replaced by `out` (a file written into
        the staging folder, say model.json on a full disk, is named as out/model.json)."""
        assert self.path is not None
        staging = self.path
        if error.errno is not None and isinstance(error.filename, str):
            if error.filename.startswith(staging):
                return type(error)(
                    error.errno, error.strerror, self.out + error.filename[len(staging) :]
                )
            return error
        message = str(error)
        if error.errno is None and staging in message:
            return type(error)(message.replace(staging, self.out))
        return error

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._lock_fd)
            self._lock_fd = None

    def _remove_made_parents(self) -> None:
        for folder in reversed(self._made_parents):
            with contextlib.suppress(OSError):
                os.rmdir(folder)  # only if still empty
        self._made_parents = []
