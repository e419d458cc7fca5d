"""Generations of an index folder: one writer at a time, published with one atomic rename."""
from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from rag.store.index import CURRENT_FILE


@contextlib.contextmanager
def writer_lock(index_dir: Path) -> Iterator[None]:
    """One writer at a time per index folder (CLI and chat-page uploads may overlap)."""
    index_dir.mkdir(parents=True, exist_ok=True)
    with open(index_dir / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)



def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish(index_dir: Path, generation: Path) -> None:
    """Point CURRENT at ``generation`` with one atomic rename, then drop older generations."""
    for path in generation.rglob("*"):
        if path.is_file():
            with open(path, "rb+") as handle:
                os.fsync(handle.fileno())
    _fsync_dir(generation)
    fd, temporary = tempfile.mkstemp(dir=index_dir, prefix=".CURRENT.")
    os.chmod(temporary, 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(generation.name + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, index_dir / CURRENT_FILE)
    _fsync_dir(index_dir)
    remove_stale(index_dir, keep=generation.name)


def remove_stale(index_dir: Path, keep: str) -> None:
    """Delete generations and temporary files that CURRENT does not point at (left by crashes)."""
    for path in index_dir.iterdir():
        if path.name == keep:
            continue
        if path.is_dir() and path.name.startswith(("gen-", ".gen-")):
            shutil.rmtree(path, ignore_errors=True)
        elif path.name.startswith(".CURRENT."):
            path.unlink(missing_ok=True)


