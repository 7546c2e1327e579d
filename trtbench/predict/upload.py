"""``predict -o s3://bucket/prefix``: outputs written locally, uploaded when each scene is complete.

A scene's COGs and summary are produced in a local staging folder exactly as for a local ``-o`` (work files,
resume state, atomic renames), then uploaded with boto3: each object appears in the bucket only when its
upload completes (S3 PUT and multipart uploads are atomic), and the summary JSON goes last, so a summary in
the bucket means the scene's outputs are there. The staging folder is fixed per destination URL (under the
system temporary folder, or ``TRTBENCH_STAGING``), so ``--resume`` finds an interrupted run's work; it is
removed when every scene has been uploaded.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..remote import RemoteUnavailable, as_raster_path, s3_client

Publish = Callable[[Any], None]   # called with the run's BatchResult


def is_s3(out: str | Path) -> bool:
    return str(out).startswith("s3://")


def staging_dir(url: str) -> Path:
    root = Path(os.environ.get("TRTBENCH_STAGING") or Path(tempfile.gettempdir()) / "trtbench-s3-staging")
    return root / hashlib.sha256(url.encode()).hexdigest()[:16]


def stage_output(out: str) -> tuple[str, Publish]:
    """The folder ``predict`` writes into, and what to call with its result: for ``s3://`` a local staging
    folder and the upload of every completed scene (the bucket is checked first, before any work); for a
    local folder, itself and nothing."""
    if not is_s3(out):
        return out, lambda result: None
    bucket, prefix = _split(out)
    client = s3_client()
    _check_bucket(client, bucket, out)
    staging = staging_dir(out)
    staging.mkdir(parents=True, exist_ok=True)

    def publish(result: Any) -> None:
        for summary in result.done.values():
            names = [*summary["outputs"].values(), f"{as_raster_path(summary['scene']).stem}.json"]
            for name in names:   # rasters first, the summary last
                _upload(client, staging / name, bucket, f"{prefix}{name}", out)
        if not result.failed:
            shutil.rmtree(staging, ignore_errors=True)

    return str(staging), publish


def _split(url: str) -> tuple[str, str]:
    bucket, _, prefix = url[len("s3://"):].partition("/")
    if not bucket:
        raise InputError(f"-o {url} names no bucket", "pass -o s3://BUCKET/PREFIX/")
    return bucket, (prefix.rstrip("/") + "/") if prefix else ""


def _check_bucket(client, bucket: str, url: str) -> None:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        client.head_bucket(Bucket=bucket)
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in ("403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
            raise InputError(f"-o {url}: access to bucket {bucket} denied ({code})",
                             "check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY for this bucket") from None
        raise InputError(f"-o {url}: bucket {bucket} does not exist ({code})", "create it or fix the URL") from None
    except BotoCoreError as exc:
        raise RemoteUnavailable(f"-o {url}: the S3 endpoint did not answer ({exc})",
                                "check AWS_S3_ENDPOINT / AWS_HTTPS or the network") from None


def _upload(client, path: Path, bucket: str, key: str, url: str) -> None:
    from boto3.exceptions import S3UploadFailedError
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        client.upload_file(str(path), bucket, key)
    except (S3UploadFailedError, ClientError, BotoCoreError) as exc:
        raise RemoteUnavailable(f"uploading {path.name} to {url} failed ({exc})",
                                "run again with --resume once the bucket is reachable: finished scenes are "
                                "uploaded again, nothing is recomputed") from None
