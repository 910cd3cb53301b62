"""An s3://bucket/prefix remote through boto3, writable.

`index.json` changes by conditional writes: the new index is put with `If-Match:
<ETag read>` (or `If-None-Match: *` when there was none); a publisher that lost the
race gets 412, reads the index again and merges again.
"""

from __future__ import annotations

import time
import urllib.parse
from pathlib import Path
from typing import Any, Callable, Iterator

from madatasets.errors import MadataError
from madatasets.hub.index import INDEX_NAME, dump_index, empty_index, parse_index
from madatasets.hub.paths import safe_relative
from madatasets.hub.remote import BLOCK, TRANSIENT_STATUS, RangeIgnored, Remote
from madatasets.hub.retry import TransientError, timeout, with_retries

_CONFLICT_ATTEMPTS = 20


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
            if status in TRANSIENT_STATUS or code in ("SlowDown", "RequestTimeout", "InternalError"):
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
