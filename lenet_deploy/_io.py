"""Atomic file writing: a failed write never replaces a good artifact."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from .errors import ArtifactError


def ensure_writable_dir(directory: str | os.PathLike) -> Path:
    """Create ``directory`` if needed and prove we can write there; raise ArtifactError if not."""
    path = Path(directory)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-test-"):
            pass
    except OSError as exc:
        reason = exc.strerror or exc.__class__.__name__
        raise ArtifactError(
            f"cannot write to output directory {str(path)!r} ({reason}); "
            "choose another location with --out"
        ) from None
    return path


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; rename it over ``target`` only on success.

    The temporary file lives in the same directory so the final ``os.replace`` is atomic.
    If the body raises, the temporary file is removed and ``target`` is untouched.
    """
    target = Path(target)
    directory = ensure_writable_dir(target.parent)
    fd, tmp_name = tempfile.mkstemp(dir=directory, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    # mkstemp creates 0600; give the artifact the permissions a normal open() would.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write_bytes(target: str | os.PathLike, data: bytes) -> Path:
    return _atomic(target, lambda tmp: tmp.write_bytes(data))


def atomic_write_text(target: str | os.PathLike, text: str) -> Path:
    return _atomic(target, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def _atomic(target: str | os.PathLike, write: Callable[[Path], object]) -> Path:
    with atomic_path(target) as tmp:
        write(tmp)
    return Path(target)


@contextlib.contextmanager
def atomic_directory(target: str | os.PathLike, *, marker: str) -> Iterator[Path]:
    """Yield an empty staging directory beside ``target``; it replaces ``target`` on success.

    An existing ``target`` is replaced only when it is empty or contains ``marker`` (a file an
    earlier run of the same writer left there), so a user's own folder is never deleted. If the
    body raises, the staging directory is removed and ``target`` is untouched.
    """
    import shutil

    target = Path(target)
    if target.exists() and not target.is_dir():
        raise ArtifactError(f"{str(target)!r} exists and is not a directory; choose another --out")
    if target.is_dir() and any(target.iterdir()) and not (target / marker).is_file():
        raise ArtifactError(
            f"{str(target)!r} is not empty and was not written by lenet-deploy (no {marker}); "
            "choose another --out or empty it"
        )
    parent = ensure_writable_dir(target.parent)
    stage = Path(tempfile.mkdtemp(dir=parent, prefix=f".{target.name}.", suffix=".tmp"))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(stage, 0o777 & ~umask)  # mkdtemp makes 0700; give what mkdir would
    try:
        yield stage
        # Keep the old tree until the new one is in place, so a failure leaves one of them.
        old = stage.with_suffix(".old") if target.exists() else None
        if old is not None:
            os.replace(target, old)
        try:
            os.replace(stage, target)
        except OSError:
            if old is not None:
                os.replace(old, target)
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if stage.exists():
            shutil.rmtree(stage, ignore_errors=True)
