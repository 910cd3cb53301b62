"""Unpacking a downloaded archive (zip, tar, tar.gz) without letting it write outside the
folder it is unpacked into: absolute member names, `..` components, links and device
files are refused before anything is written, and so is an archive larger than the
free space."""

from __future__ import annotations

import shutil
import stat
import tarfile
import zipfile
from pathlib import Path, PurePosixPath

from madatasets.errors import MadataError

ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz")


def is_archive(path: Path) -> bool:
    return path.is_file() and path.name.lower().endswith(ARCHIVE_SUFFIXES)


def _check_member(archive: Path, name: str) -> PurePosixPath:
    if not name or "\x00" in name or "\\" in name or any(ord(c) < 32 for c in name):
        raise MadataError(f"archive {archive.name}: member {name[:80]!r} has an unusable name; refused")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise MadataError(f"archive {archive.name}: member {name[:80]!r} is an absolute path; refused "
                          f"(it would be written outside the import folder)")
    path = PurePosixPath(name)
    if ".." in path.parts:
        raise MadataError(f"archive {archive.name}: member {name[:80]!r} has a '..' component; refused "
                          f"(it would be written outside the import folder)")
    return path


def safe_extract(archive: Path, into: Path) -> Path:
    """Unpack `archive` into the (empty) folder `into`; returns `into`."""
    try:
        if archive.name.lower().endswith(".zip"):
            with zipfile.ZipFile(archive) as handle:
                members = handle.infolist()
                total = 0
                for member in members:
                    _check_member(archive, member.filename)
                    mode = member.external_attr >> 16
                    if stat.S_ISLNK(mode):
                        raise MadataError(f"archive {archive.name}: member {member.filename!r} is a symbolic "
                                          f"link; refused")
                    total += member.file_size
                _check_space(archive, into, total)
                for member in members:
                    target = into / _check_member(archive, member.filename)
                    if member.is_dir():
                        target.mkdir(parents=True, exist_ok=True)
                        continue
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with handle.open(member) as source, open(target, "xb") as out:
                        shutil.copyfileobj(source, out, 1 << 20)
        else:
            with tarfile.open(archive) as handle:
                members = handle.getmembers()
                for member in members:
                    _check_member(archive, member.name)
                    if not (member.isfile() or member.isdir()):
                        raise MadataError(f"archive {archive.name}: member {member.name!r} is a link or a "
                                          f"device; refused")
                _check_space(archive, into, sum(m.size for m in members))
                for member in members:
                    target = into / _check_member(archive, member.name)
                    if member.isdir():
                        target.mkdir(parents=True, exist_ok=True)
                        continue
                    target.parent.mkdir(parents=True, exist_ok=True)
                    source = handle.extractfile(member)
                    with source, open(target, "xb") as out:
                        shutil.copyfileobj(source, out, 1 << 20)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError) as error:
        raise MadataError(f"archive {archive} is damaged or not an archive ({error})") from None
    except FileExistsError as error:
        raise MadataError(f"archive {archive.name} lists {Path(error.filename).name!r} twice; refused") from None
    return into


def _check_space(archive: Path, into: Path, total: int) -> None:
    free = shutil.disk_usage(into).free
    if total > free:
        raise MadataError(f"archive {archive.name} unpacks to {total / 2**20:.1f} MiB and {into} has "
                          f"{free / 2**20:.1f} MiB free; free some space")
