"""Atomic file writing: a failed write never replaces a good artifact.

* Every write goes to a temporary file in the target's directory and is renamed over the
  target only after it was written and fsynced; the temporary file is removed on every path
  (errors, KeyboardInterrupt). A process killed with SIGKILL can leave one behind: the next
  write of the same target in that directory removes it.
* Writers of one directory take an exclusive ``flock`` on it while they write and rename, so
  two concurrent runs cannot interleave their renames and leave a mismatched pair.
* Symlinks: ``os.replace`` replaces the link itself with a regular file; the file the link
  pointed to is left unchanged.
* :func:`check_outputs` refuses, before a command does its work, an output that is one of
  its inputs or an existing artifact of another kind (a checkpoint, a model, metrics.json).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from ..errors import ArtifactError


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
    If the body raises (KeyboardInterrupt included), the temporary file is removed and
    ``target`` is untouched.
    """
    with atomic_paths([target]) as (tmp,):
        yield tmp


@contextlib.contextmanager
def atomic_paths(targets: Iterable[str | os.PathLike]) -> Iterator[list[Path]]:
    """Temporary paths for several files of one directory, committed together.

    All bodies are written before the first rename, under the directory's lock; the renames
    follow in the order given, so a reader that checks the last file against the first (as
    ``artifacts.read_metrics`` does) sees either the old pair, the new pair, or a mismatch it
    can name -- never a silent mix.
    """
    targets = [Path(t) for t in targets]
    directory = ensure_writable_dir(targets[0].parent)
    if any(t.parent != targets[0].parent for t in targets):
        raise ArtifactError("files committed together must share one directory")
    with _locked(directory):
        temps: list[Path] = []
        try:
            for target in targets:
                _remove_stale_temps(target)
                temps.append(_new_temp(target))
            yield list(temps)
            for tmp in temps:
                with open(tmp, "rb+") as fh:
                    os.fsync(fh.fileno())
            for tmp, target in zip(temps, targets, strict=True):
                os.replace(tmp, target)
        finally:
            for tmp in temps:
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()


def _new_temp(target: Path) -> Path:
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    # mkstemp creates 0600; give the artifact the permissions a normal open() would.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_name, 0o666 & ~umask)
    return Path(tmp_name)


def _remove_stale_temps(target: Path) -> None:
    """Temporary files of ``target`` left by a killed writer (we hold the directory lock, so
    no live writer owns one)."""
    for stale in target.parent.glob(f".{target.name}.*.tmp"):
        with contextlib.suppress(OSError):
            stale.unlink()


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock, the renames are still atomic one by one
        yield
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


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


# --------------------------------------------------------------------------- output guard
#: What an existing file is, judged by name, suffix and first bytes.
_SUFFIX_KIND = {".pt": "checkpoint", ".pth": "checkpoint", ".onnx": "onnx"}


def artifact_kind(path: str | os.PathLike) -> str | None:
    """'checkpoint', 'onnx' or 'metrics' for an existing artifact file, else None."""
    path = Path(path)
    if path.name == "metrics.json":
        return "metrics"
    kind = _SUFFIX_KIND.get(path.suffix.lower())
    if kind or not path.is_file():
        return kind
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
    except OSError:
        return None
    if head.startswith(b"PK\x03\x04"):
        return "checkpoint"  # torch.save writes a zip archive
    # An ONNX ModelProto starts with ir_version (field 1, varint), then a length-delimited field.
    if len(head) >= 3 and head[0] == 0x08 and head[1] < 0x80 and head[2] in b"\x12\x1a\x22\x2a\x3a":
        return "onnx"
    return None


def check_outputs(
    outputs: Iterable[tuple[str | os.PathLike, str]],
    inputs: Iterable[str | os.PathLike] = (),
) -> None:
    """Refuse, before any work, an output that would destroy something the user has.

    ``outputs`` are (path, kind) pairs; kind is what will be written there ('checkpoint',
    'onnx', 'metrics', or anything else for reports and plots). Raises ArtifactError if an
    output is a directory, is the same file as one of ``inputs`` (also through a symlink), or
    is an existing artifact of another kind.
    """
    real_inputs = {os.path.realpath(p) for p in inputs if p and Path(p).is_file()}
    for path, kind in outputs:
        if not path:
            continue
        target = Path(path)
        if target.is_dir():
            raise ArtifactError(f"output {str(target)!r} is a directory; pass a file path")
        if os.path.realpath(target) in real_inputs:
            raise ArtifactError(
                f"output {str(target)!r} is also an input of this command; writing it would "
                "destroy the input: choose another output path"
            )
        existing = artifact_kind(target) if target.exists() else None
        if existing and existing != kind:
            raise ArtifactError(
                f"output {str(target)!r} is an existing {existing} artifact; refusing to "
                f"replace it with a {kind}: choose another output path"
            )
