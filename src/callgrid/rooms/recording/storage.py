"""Where recording files live: a small interface, so object storage can follow.

The writer needs a seekable file while it writes (WebM's header and index are completed at
the end); an object store would take the file once it is `ready` (or `interrupted`). Keys are
relative paths such as `{room_id}/{recording_id}.webm`.
"""

import os
from pathlib import Path
from typing import BinaryIO, Protocol


class RecordingStorage(Protocol):
    def open_writer(self, key: str) -> BinaryIO:
        """A new, seekable, unbuffered file for `key` (its folders made as needed)."""

    def open_reader(self, key: str) -> BinaryIO:
        """The file of `key` for reading (FileNotFoundError when there is none)."""

    def size(self, key: str) -> int | None:
        """Its size in bytes, or None when there is no such file."""

    def delete(self, key: str) -> None:
        """Remove it (nothing when it is not there)."""


class LocalRecordingStorage:
    """Files under one directory (CALLGRID_RECORDINGS_DIR), created when first written to."""

    def __init__(self, directory: str | os.PathLike):
        self.root = Path(directory).resolve()

    def path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root) or path == self.root:
            raise ValueError(f"recording key outside the recordings directory: {key!r}")
        return path

    def open_writer(self, key: str) -> BinaryIO:
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        return open(path, "w+b", buffering=0)  # noqa: SIM115 (the writer closes it)

    def open_reader(self, key: str) -> BinaryIO:
        return open(self.path(key), "rb")  # noqa: SIM115

    def size(self, key: str) -> int | None:
        try:
            return self.path(key).stat().st_size
        except (FileNotFoundError, ValueError):
            return None

    def delete(self, key: str) -> None:
        path = self.path(key)
        path.unlink(missing_ok=True)
        try:
            path.parent.rmdir()  # the room's folder, once empty
        except OSError:
            pass
