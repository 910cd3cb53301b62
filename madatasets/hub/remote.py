"""Remotes: where published datasets live (a folder, http(s)://, s3://, other fsspec URLs).

Each remote reads a file whole (`read`), streams one from an offset (`stream`, for
resumed downloads), and, where it can be written, uploads files (`put_file`) and
changes `index.json` under a guard (`update_index`), so that two publishers cannot
lose each other's entries:

* a local folder: an exclusive lock file `index.json.lock` created with O_EXCL
  (which works on network file systems too), the new index written to a temporary
  name and renamed over the old one; a lock left by a dead process on this host is
  broken, any other is waited for;
* S3: conditional writes: the new index is put with `If-Match: <ETag read>` (or
  `If-None-Match: *` when there was none); a publisher that lost the race gets 412,
  reads the index again and merges again;
* http(s) and other fsspec URLs are read-only here.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator

from madatasets.errors import MadataError
from madatasets.hub.index import INDEX_NAME, dump_index, empty_index, parse_index
from madatasets.hub.paths import inside, safe_relative
from madatasets.hub.retry import TransientError, timeout, with_retries

BLOCK = 1 << 20
LOCK_WAIT_S = 60.0
_CONFLICT_ATTEMPTS = 20


class RangeIgnored(Exception):
    """The server sent the whole file although we asked for a range: start again from 0."""


class Remote:
    """The interface every remote implements (see the module docstring)."""

    url: str
    writable = False

    def read(self, name: str) -> bytes | None:
        """The file's bytes; None when it does not exist."""
        raise NotImplementedError

    def stream(self, name: str, offset: int) -> Iterator[bytes]:
        """The file's bytes from `offset` on (RangeIgnored when they start at 0 instead)."""
        raise NotImplementedError

    def size(self, name: str) -> int | None:
        raise NotImplementedError

    def require_writable(self) -> None:
        if not self.writable:
            raise MadataError(f"{self.url} is read-only for madata; publish to a local folder or an s3:// URL")

    def put_file(self, name: str, local: Path) -> None:
        self.require_writable()

    def update_index(self, change: Callable[[dict[str, Any]], dict[str, Any] | None]) -> None:
        """Apply `change` to the current index under the remote's guard (None: leave it)."""
        self.require_writable()

    def index(self) -> dict[str, Any]:
        """The validated index (empty when the remote has none yet)."""
        raw = with_retries(lambda: self.read(INDEX_NAME), f"reading {self.url}/{INDEX_NAME}")
        return empty_index() if raw is None else parse_index(raw, self.url)

    def has_root(self) -> bool:
        """False for a remote that does not exist yet (a local folder a publish will create)."""
        return True

    def describe(self, name: str) -> str:
        return f"{self.url.rstrip('/')}/{name}"


# -- a folder on this machine -------------------------------------------------------------
class LocalRemote(Remote):
    writable = True

    def __init__(self, root: Path, url: str):
        self.root, self.url = root, url

    def has_root(self) -> bool:
        return self.root.is_dir()

    def _path(self, name: str) -> Path:
        path = inside(self.root, safe_relative(name, self.url))
        real = os.path.realpath(path)
        if os.path.exists(path) and not real.startswith(os.path.realpath(self.root) + os.sep):
            raise MadataError(f"{path} resolves outside the remote {self.root}; refused")
        return path

    def read(self, name: str) -> bytes | None:
        path = self._path(name)
        if not path.exists() and self.root.is_dir():
            return None
        if not self.root.is_dir():
            raise MadataError(f"remote {self.url}: folder {self.root} does not exist")
        return path.read_bytes()

    def size(self, name: str) -> int | None:
        path = self._path(name)
        return path.stat().st_size if path.is_file() else None

    def stream(self, name: str, offset: int) -> Iterator[bytes]:
        path = self._path(name)
        if not path.is_file():
            raise MadataError(f"{self.describe(name)} does not exist (the remote is missing a file its index lists)")
        with open(path, "rb") as handle:
            handle.seek(offset)
            while block := handle.read(BLOCK):
                yield block

    def put_file(self, name: str, local: Path) -> None:
        target = self._path(name)
        if target.is_file() and target.stat().st_size == local.stat().st_size:
            return      # published paths hold the card digest: same name and size, same file
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex}.partial")
        try:
            with open(local, "rb") as source, open(temporary, "wb") as out:
                while block := source.read(BLOCK):
                    out.write(block)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, target)
        finally:
            temporary.unlink(missing_ok=True)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        lock = self.root / (INDEX_NAME + ".lock")
        deadline = time.monotonic() + LOCK_WAIT_S
        while True:
            try:
                fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
                break
            except FileExistsError:
                if _stale(lock):
                    with contextlib.suppress(FileNotFoundError):
                        lock.unlink()
                    continue
                if time.monotonic() > deadline:
                    raise MadataError(f"{lock} has been held for over {LOCK_WAIT_S:.0f} s by another publisher; "
                                      f"if none is running, remove it and publish again") from None
                time.sleep(0.05)
        try:
            os.write(fd, json.dumps({"host": socket.gethostname(), "pid": os.getpid()}).encode())
            os.close(fd)
            yield
        finally:
            lock.unlink(missing_ok=True)

    def update_index(self, change: Callable[[dict[str, Any]], dict[str, Any] | None]) -> None:
        with self._locked():
            raw = self.read(INDEX_NAME)
            new = change(empty_index() if raw is None else parse_index(raw, self.url))
            if new is None:
                return
            target = self.root / INDEX_NAME
            temporary = self.root / f".{INDEX_NAME}.{uuid.uuid4().hex}.partial"
            try:
                temporary.write_bytes(dump_index(new))
                with open(temporary, "rb") as handle:
                    os.fsync(handle.fileno())
                os.replace(temporary, target)
            finally:
                temporary.unlink(missing_ok=True)


def _stale(lock: Path) -> bool:
    """A lock whose writer was a process on this host that no longer runs."""
    try:
        owner = json.loads(lock.read_text() or "{}")
    except (OSError, ValueError):
        # Just created, not yet written: give its owner a moment.
        return time.time() - lock.stat().st_mtime > 5 if lock.exists() else True
    if owner.get("host") != socket.gethostname() or not isinstance(owner.get("pid"), int):
        return False
    try:
        os.kill(owner["pid"], 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


# -- http(s) ---------------------------------------------------------------------------------
_TRANSIENT_STATUS = {408, 425, 429, 500, 502, 503, 504}


class HttpRemote(Remote):
    """A published folder served over http(s); resumed with Range requests."""

    def __init__(self, url: str):
        self.url = url.rstrip("/")

    def _open(self, name: str, offset: int = 0, method: str = "GET") -> http.client.HTTPResponse | None:
        quoted = "/".join(urllib.parse.quote(part) for part in safe_relative(name, self.url).parts)
        request = urllib.request.Request(f"{self.url}/{quoted}", method=method,
                                         headers={"User-Agent": "madata", "Accept-Encoding": "identity"})
        if offset:
            request.add_header("Range", f"bytes={offset}-")
        try:
            return urllib.request.urlopen(request, timeout=timeout())
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return None
            if error.code == 416:
                raise RangeIgnored() from None
            if error.code in _TRANSIENT_STATUS:
                raise TransientError(f"HTTP {error.code} {error.reason}") from None
            raise MadataError(f"HTTP {error.code} {error.reason} from {request.full_url}") from None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
            reason = getattr(error, "reason", error)
            raise TransientError(str(reason) or type(reason).__name__) from None

    def read(self, name: str) -> bytes | None:
        response = self._open(name)
        if response is None:
            return None
        with response:
            try:
                return response.read()
            except (OSError, http.client.HTTPException) as error:
                raise TransientError(str(error) or type(error).__name__) from None

    def size(self, name: str) -> int | None:
        response = self._open(name, method="HEAD")
        if response is None:
            return None
        with response:
            length = response.headers.get("Content-Length")
            return int(length) if length and length.isdigit() else None

    def stream(self, name: str, offset: int) -> Iterator[bytes]:
        response = self._open(name, offset)
        if response is None:
            raise MadataError(f"HTTP 404 Not Found from {self.describe(name)} (the remote is missing a file its "
                              f"index lists)")
        with response:
            if offset and response.status != 206:
                raise RangeIgnored()
            if offset and not (response.headers.get("Content-Range") or "").startswith(f"bytes {offset}-"):
                raise RangeIgnored()
            while True:
                try:
                    block = response.read(BLOCK)
                except (OSError, http.client.HTTPException) as error:
                    raise TransientError(str(error) or type(error).__name__) from None
                if not block:
                    return
                yield block


# -- S3 ------------------------------------------------------------------------------------
class S3Remote(Remote):
    """s3://bucket/prefix through boto3. The endpoint comes from boto3's own settings
    ($AWS_ENDPOINT_URL_S3 or $AWS_ENDPOINT_URL for S3-compatible servers); without
    credentials, requests are unsigned (public buckets)."""

    writable = True

    def __init__(self, url: str):
        parsed = urllib.parse.urlparse(url)
        if not parsed.netloc:
            raise MadataError(f"{url!r} names no bucket; expected s3://bucket[/prefix]")
        self.url = url.rstrip("/")
        self.bucket, self.prefix = parsed.netloc, parsed.path.strip("/")
        try:
            import boto3
            import botocore.config
        except ImportError:
            raise MadataError("s3:// remotes need boto3; install it with: pip install 'madata[hub]'") from None
        import botocore
        session = boto3.session.Session()
        settings: dict[str, Any] = {"connect_timeout": timeout(), "read_timeout": timeout(),
                                    "retries": {"max_attempts": 1}}     # our retries resume; boto3's would not
        if session.get_credentials() is None:
            settings["signature_version"] = botocore.UNSIGNED
        self._client = session.client("s3", config=botocore.config.Config(**settings))

    def key(self, name: str) -> str:
        relative = str(safe_relative(name, self.url))
        return f"{self.prefix}/{relative}" if self.prefix else relative

    def _call(self, name: str, operation: Callable[[], Any]) -> Any:
        """Run one S3 call, sorting its failures into missing (None), transient and permanent."""
        import botocore.exceptions as errors
        try:
            return operation()
        except errors.ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", ""))
            status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            if code in ("NoSuchKey", "404", "NotFound"):
                return None
            if code == "InvalidRange" or status == 416:
                raise RangeIgnored() from None
            if code in ("PreconditionFailed", "ConditionalRequestConflict") or status in (409, 412):
                raise
            if status in _TRANSIENT_STATUS or code in ("SlowDown", "RequestTimeout", "InternalError"):
                raise TransientError(f"S3 {code or status}") from None
            if code == "NoSuchBucket":
                raise MadataError(f"bucket {self.bucket!r} does not exist ({self.url})") from None
            raise MadataError(f"S3 {code or status} for {self.describe(name)}: "
                              f"{error.response.get('Error', {}).get('Message', '')}".rstrip(": ")) from None
        except errors.NoCredentialsError:
            raise MadataError(f"no AWS credentials for {self.url}; set AWS_ACCESS_KEY_ID and "
                              f"AWS_SECRET_ACCESS_KEY") from None
        except (errors.EndpointConnectionError, errors.ConnectionClosedError, errors.ReadTimeoutError,
                errors.ConnectTimeoutError, errors.ResponseStreamingError, errors.IncompleteReadError,
                OSError) as error:
            raise TransientError(type(error).__name__) from None

    def read(self, name: str) -> bytes | None:
        return self._read_with_etag(name)[0]

    def _read_with_etag(self, name: str) -> tuple[bytes | None, str | None]:
        response = self._call(name, lambda: self._client.get_object(Bucket=self.bucket, Key=self.key(name)))
        if response is None:
            return None, None
        return self._call(name, lambda: response["Body"].read()), response.get("ETag")

    def size(self, name: str) -> int | None:
        response = self._call(name, lambda: self._client.head_object(Bucket=self.bucket, Key=self.key(name)))
        return None if response is None else int(response["ContentLength"])

    def stream(self, name: str, offset: int) -> Iterator[bytes]:
        extra = {"Range": f"bytes={offset}-"} if offset else {}
        response = self._call(name, lambda: self._client.get_object(Bucket=self.bucket, Key=self.key(name), **extra))
        if response is None:
            raise MadataError(f"{self.describe(name)} does not exist (the remote is missing a file its index lists)")
        if offset and not str(response.get("ContentRange", "")).startswith(f"bytes {offset}-"):
            raise RangeIgnored()
        body = response["Body"]
        while True:
            block = self._call(name, lambda: body.read(BLOCK))
            if not block:
                return
            yield block

    def put_file(self, name: str, local: Path) -> None:
        existing = self.size(name)
        if existing == local.stat().st_size:
            return      # published paths hold the card digest: same name and size, same file
        # One PUT per file: S3 makes an object visible only once it is complete.
        with open(local, "rb") as handle:
            self._call(name, lambda: self._client.put_object(Bucket=self.bucket, Key=self.key(name), Body=handle))

    def update_index(self, change: Callable[[dict[str, Any]], dict[str, Any] | None]) -> None:
        import botocore.exceptions as errors
        for _ in range(_CONFLICT_ATTEMPTS):
            raw, etag = with_retries(lambda: self._read_with_etag(INDEX_NAME), f"reading {self.describe(INDEX_NAME)}")
            new = change(empty_index() if raw is None else parse_index(raw, self.url))
            if new is None:
                return
            condition = {"IfMatch": etag} if etag else {"IfNoneMatch": "*"}
            body = dump_index(new)
            try:
                with_retries(lambda: self._call(INDEX_NAME, lambda: self._client.put_object(
                    Bucket=self.bucket, Key=self.key(INDEX_NAME), Body=body, ContentType="application/json",
                    **condition)), f"writing {self.describe(INDEX_NAME)}")
                return
            except errors.ClientError:
                # Another publisher wrote the index since we read it: merge into theirs.
                time.sleep(0.05)
        raise MadataError(f"{self.describe(INDEX_NAME)} kept changing under {_CONFLICT_ATTEMPTS} attempts to "
                          f"update it; publish again")


# -- any other fsspec URL (gs://, hf://, ...), read-only ---------------------------------------
class FsspecRemote(Remote):
    def __init__(self, url: str):
        import fsspec
        self.url = url.rstrip("/")
        try:
            self._fs, self._root = fsspec.core.url_to_fs(self.url)
        except (ImportError, ValueError) as error:
            raise MadataError(f"cannot open remote {url!r}: {error}") from None

    def _path(self, name: str) -> str:
        return f"{self._root.rstrip('/')}/{safe_relative(name, self.url)}"

    def _call(self, name: str, operation: Callable[[], Any]) -> Any:
        try:
            return operation()
        except FileNotFoundError:
            return None
        except (TimeoutError, ConnectionError) as error:
            raise TransientError(str(error) or type(error).__name__) from None
        except (OSError, ValueError) as error:
            raise MadataError(f"{self.describe(name)}: {error}") from None

    def read(self, name: str) -> bytes | None:
        return self._call(name, lambda: self._fs.cat_file(self._path(name)))

    def size(self, name: str) -> int | None:
        return self._call(name, lambda: self._fs.size(self._path(name)))

    def stream(self, name: str, offset: int) -> Iterator[bytes]:
        total = self.size(name)
        if total is None:
            raise MadataError(f"{self.describe(name)} does not exist (the remote is missing a file its index lists)")
        while offset < total:
            end = min(offset + BLOCK, total)
            block = self._call(name, lambda: self._fs.cat_file(self._path(name), start=offset, end=end))
            if not block:
                return
            offset += len(block)
            yield block


def open_remote(url: str) -> Remote:
    """The remote for a URL or a folder path."""
    if not isinstance(url, str) or not url.strip():
        raise MadataError("empty remote URL; expected a folder, file://, http(s)://, s3:// or another fsspec URL")
    url = url.strip()
    scheme = urllib.parse.urlparse(url).scheme if "://" in url else ""
    if scheme in ("", "file"):
        path = Path(urllib.parse.urlparse(url).path if scheme else url).expanduser()
        return LocalRemote(path, url)
    if scheme in ("http", "https"):
        return HttpRemote(url)
    if scheme == "s3":
        return S3Remote(url)
    return FsspecRemote(url)
