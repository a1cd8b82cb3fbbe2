"""Atomic file writes (one place for the temporary-file-then-rename pattern), and the lines of
a JSON-lines text."""

from __future__ import annotations

import errno
import io
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no advisory locks
    fcntl = None  # type: ignore[assignment]


def json_lines(text: str, *, keepends: bool = False) -> list[str]:
    """The lines of a JSON-lines text, split at ``\\n``, ``\\r\\n`` and ``\\r`` only.

    ``str.splitlines`` also splits at U+2028, U+2029 and NEL (U+0085), which JSON allows
    unescaped inside a string (RFC 8259, section 7) and which text pasted from word processors
    carries; split there, a valid record reads as two broken ones. Raw CR and LF can never be
    inside a JSON string, so splitting at them is safe.
    """
    # newline="" : universal newlines recognised, not translated (io.TextIOWrapper docs)
    lines = list(io.StringIO(text, newline=""))
    return lines if keepends else [line.rstrip("\r\n") for line in lines]


def check_writable(path: str | os.PathLike[str], *, append: bool = False) -> None:
    """Raise ``OSError`` unless a file can be written at ``path``: a temporary file must be
    creatable (and is removed) in its nearest existing folder, as :func:`write_atomically`
    needs; with ``append``, a file already there must open for appending instead. Trying is
    the only reliable test: ``os.access`` says yes to root and knows nothing of read-only
    mounts or immutable folders. Call it before long work whose result goes to ``path``."""
    target = Path(os.path.realpath(path))
    if append and target.is_file():
        with target.open("a", encoding="utf-8"):
            return
    folder = next((parent for parent in target.parents if parent.exists()), Path("/"))
    handle, name = tempfile.mkstemp(prefix=".fedcrm-write-test-", dir=folder)
    os.close(handle)
    os.unlink(name)


def undecodable_at(error: UnicodeDecodeError) -> str:
    """Where text stopped being UTF-8, as a person finds it: ``byte 0xe9 on line 5``."""
    data = bytes(error.object)
    line = data.count(b"\n", 0, error.start) + 1
    return f"byte 0x{data[error.start]:02x} on line {line}"


def new_file_mode() -> int:
    """The mode ``open()`` gives a new file: 0666 less the process's umask (a temporary file
    from :func:`tempfile.mkstemp` is 0600 instead)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def write_atomically(path: str | os.PathLike[str], data: str | bytes, *,
                     private: bool = False) -> Path:
    """Write ``data`` to ``path`` through a temporary file beside it and ``os.replace``, so a
    crash leaves the old file or the new one, never half of one.

    ``private`` files are readable by their owner only from the first byte on (the temporary
    file is created with mode 0600 and keeps it); other files keep the mode of the file they
    replace, or get the usual mode for new files (0666 less the umask).

    A symbolic link is written through, as ``open()`` would: the file it points to gets the
    data and the link stays (a link kept beside the data, ``latest.json -> runs/7.json``, is
    not replaced by a copy); a link into a folder that does not exist, or a loop of links, is
    an ``OSError`` as with ``open()``. A ``private`` file never follows a link: the link is
    replaced by the file, so a link planted where a secret is written cannot send the secret
    elsewhere. Returns ``path`` as given.
    """
    given = Path(path)
    if given.is_symlink() and not private:
        # the temporary file must sit beside the real file for os.replace to be atomic
        target = Path(os.path.realpath(given))
        if target.is_symlink():
            raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), str(given))
        if not target.parent.is_dir():
            raise FileNotFoundError(errno.ENOENT, f"{given} is a symbolic link into a folder "
                                    f"that does not exist", str(target.parent))
    else:
        target = given
        target.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    temporary = Path(name)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data.encode("utf-8") if isinstance(data, str) else data)
            stream.flush()
            os.fsync(stream.fileno())
        if not private:
            if target.exists():
                shutil.copymode(target, temporary)
            else:
                temporary.chmod(new_file_mode())
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return given


@contextmanager
def locked_folder(folder: str | os.PathLike[str]) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``folder`` itself (POSIX ``flock`` on the folder,
    so no lock file is left in it; Windows runs unlocked) for a read-merge-write of files
    in it: two writers that both take it cannot interleave and lose each other's changes.
    Not re-entrant: taking it again in the same process while it is held waits forever."""
    if fcntl is None:
        yield
        return
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # releases the lock
