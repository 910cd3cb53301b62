"""Moving one listed file from a remote into a sink, resumably, and checking it.

A transfer appends to what the sink already holds (a `.part` file left by an
interrupted download, or the bytes an earlier attempt received), asking the remote
for the rest only (HTTP Range, S3 ranged GET); a server that ignores the range is
read again from the start. The size and sha256 listed in the index are checked
before the caller may use the bytes.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Callable

from madatasets.errors import ChecksumError, MadataError
from madatasets.hub.remote import RangeIgnored, Remote
from madatasets.hub.retry import TransientError, with_retries

Progress = Callable[[int], Any]


class FileSink:
    """A `.part` file: survives the process, so the next run resumes it."""

    def __init__(self, path: Path):
        self.path = path

    def held(self) -> int:
        return self.path.stat().st_size if self.path.exists() else 0

    def reset(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "wb"):
            pass

    def writer(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        return open(self.path, "ab")

    def sha256(self) -> str:
        digest = hashlib.sha256()
        with open(self.path, "rb") as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
        return digest.hexdigest()


class MemorySink:
    """Bytes in memory (a dataset read straight from a remote)."""

    def __init__(self) -> None:
        self.data = bytearray()

    def held(self) -> int:
        return len(self.data)

    def reset(self) -> None:
        self.data.clear()

    def writer(self):
        sink = self

        class _Append:
            def __enter__(self):
                return self

            def __exit__(self, *_: Any) -> None:
                return None

            def write(self, block: bytes) -> None:
                sink.data += block

            def flush(self) -> None:
                return None

            def fileno(self) -> int:
                raise OSError("in memory")
        return _Append()

    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def transfer(remote: Remote, name: str, size: int, sha256: str | None, sink: FileSink | MemorySink,
             progress: Progress | None = None) -> str:
    """Bring `sink` to the remote file's `size` bytes and check them against `sha256`; returns
    their sha256 (`sha256=None`: a source that publishes none, whose digest the caller records)."""
    where = remote.describe(name)

    def attempt() -> None:
        held = sink.held()
        if held > size:
            sink.reset()
            held = 0
        if held == size:
            return
        try:
            blocks = remote.stream(name, held)
            first = next(blocks, None)
        except RangeIgnored:
            # The server restarted from byte 0 (or no longer has the range): take it whole.
            if progress and held:
                progress(-held)
            sink.reset()
            held = 0
            blocks = remote.stream(name, 0)
            first = next(blocks, None)
        with sink.writer() as out:
            try:
                block = first
                while block is not None:
                    if held + len(block) > size:
                        raise MadataError(f"{where} is longer than the {size} bytes its index lists; "
                                          f"the remote is inconsistent, nothing was installed")
                    out.write(block)
                    held += len(block)
                    if progress:
                        progress(len(block))
                    block = next(blocks, None)
            finally:
                out.flush()
                # What was received survives a crash of this process, so the next run resumes it.
                if isinstance(sink, FileSink):
                    os.fsync(out.fileno())
        if held < size:
            raise TransientError(f"the connection ended after {held:,} of {size:,} bytes")

    with_retries(attempt, f"downloading {where}", "; run it again to resume")
    actual = sink.sha256()
    if sha256 is not None and actual != sha256:
        # Damaged bytes are never resumed from: the next attempt starts the file again.
        sink.reset()
        raise ChecksumError(f"{where}: sha256 mismatch (expected {sha256[:16]}..., got {actual[:16]}...); "
                            f"the remote served damaged bytes, nothing was installed")
    return actual
