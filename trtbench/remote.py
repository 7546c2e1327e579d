"""Rasters in object storage: COGs read over HTTP(S) range requests and from S3-compatible storage.

Reading goes through GDAL's own network file systems, so only the byte ranges of the blocks a window needs
are fetched (plus the header): ``https://host/scene.tif`` is opened as ``/vsicurl/https://host/scene.tif`` and
``s3://bucket/key.tif`` as ``/vsis3/bucket/key.tif``. Endpoint and credentials come from the usual AWS
variables, read by GDAL itself (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``,
``AWS_REGION``; for an S3-compatible server ``AWS_S3_ENDPOINT=host:port``, ``AWS_HTTPS=NO`` and
``AWS_VIRTUAL_HOSTING=FALSE``: GDAL's "/vsis3/" documentation). Outputs for ``s3://`` are written by boto3
(:mod:`trtbench.predict.upload`) from the same variables.

A scene's identity for ``--resume`` is its size and ETag (or Last-Modified), as a local file's is its size
and modification time: a replaced object is never resumed into.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import InputError, TrtbenchError

SCHEMES = ("http://", "https://", "s3://")


class RemoteUnavailable(TrtbenchError):
    """The storage did not answer (server down, connection cut): the run can be resumed once it is back."""


@dataclass(frozen=True)
class RemoteRaster:
    """A raster named by URL (``https://...`` or ``s3://bucket/key``): what ``Path`` is for a local file."""

    url: str

    @property
    def name(self) -> str:
        return self.url.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0]

    @property
    def stem(self) -> str:
        return Path(self.name).stem

    @property
    def suffix(self) -> str:
        return Path(self.name).suffix

    @property
    def gdal_path(self) -> str:
        if self.url.startswith("s3://"):
            return "/vsis3/" + self.url[len("s3://"):]
        return "/vsicurl/" + self.url

    def __str__(self) -> str:
        return self.url


def is_remote(path: object) -> bool:
    return isinstance(path, RemoteRaster) or (isinstance(path, str) and path.lower().startswith(SCHEMES))


def as_raster_path(path: str | Path | RemoteRaster) -> Path | RemoteRaster:
    """A local ``Path``, or a :class:`RemoteRaster` for a URL (``Path`` would fold its ``//``)."""
    if isinstance(path, RemoteRaster | Path):
        return path
    return RemoteRaster(path) if is_remote(path) else Path(path)


def from_gdal_path(path: str) -> RemoteRaster | None:
    """The URL behind a GDAL network path (``/vsicurl/URL``, ``/vsis3/bucket/key``), else None."""
    if path.startswith("/vsicurl/"):
        return RemoteRaster(path[len("/vsicurl/"):])
    if path.startswith("/vsis3/"):
        return RemoteRaster("s3://" + path[len("/vsis3/"):])
    return None


def remote_sources(path: Path | RemoteRaster) -> list[RemoteRaster]:
    """The remote rasters a scene reads: itself when remote, or the network sources of a local VRT (the stack
    of a STAC item's band assets), so a failed read can be blamed on the server rather than on the file."""
    if isinstance(path, RemoteRaster):
        return [path]
    if path.suffix.lower() != ".vrt":
        return []
    import xml.etree.ElementTree as ElementTree

    try:
        root = ElementTree.parse(path).getroot()
    except (OSError, ElementTree.ParseError):
        return []
    found = (from_gdal_path((node.text or "").strip()) for node in root.iter("SourceFilename"))
    return list(dict.fromkeys(r for r in found if r is not None))


def remote_error(raster: RemoteRaster, reason: str, probe: bool = True) -> TrtbenchError:
    """The user-facing error for a failed remote open or read, from GDAL's (or boto3's) ``reason``: missing
    object, refused credentials, unreachable server, or not a GeoTIFF.

    GDAL sometimes reports a refused request only as an unreadable file (it read the error page); a reason
    that names no cause is therefore checked by asking the storage for the object's header (``probe``), whose
    refusal names the cause, before the file itself is blamed.
    """
    text = reason.lower()
    if re.search(r"\b(401|403|invalidaccesskeyid|signaturedoesnotmatch|accessdenied|access denied|credentials|"
                 r"access key id|aws_secret_access_key|aws_no_sign_request|forbidden|unauthorized)\b", text):
        return InputError(f"{raster}: access denied ({reason})",
                          "check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN) for this bucket")
    if re.search(r"\b(404|nosuchkey|nosuchbucket|does not exist|no such file)\b", text):
        return InputError(f"{raster}: no such object ({reason})", "check the URL (bucket, key, host and path)")
    if re.search(r"(couldn't connect|could not connect|connection refused|timed out|timeout|recv failure|"
                 r"connection reset|empty reply|curl error|partial file|transfer closed)", text):
        return RemoteUnavailable(f"{raster}: the server did not answer ({reason})",
                                 "check the endpoint (AWS_S3_ENDPOINT, AWS_HTTPS) or the network, then run again "
                                 "with --resume")
    if probe:
        remote_identity(raster)   # raises the storage's own refusal, if any
    return InputError(f"{raster} is not a readable GeoTIFF: {reason}",
                      "check that the URL names a (Cloud-Optimized) GeoTIFF; it may be damaged")


def remote_identity(raster: RemoteRaster) -> dict[str, object]:
    """Size and version tag (ETag, else Last-Modified) of the object, for the ``--resume`` fingerprint."""
    if raster.url.startswith("s3://"):
        from botocore.exceptions import BotoCoreError, ClientError

        bucket, _, key = raster.url[len("s3://"):].partition("/")
        try:
            head = s3_client().head_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            raise remote_error(raster, str(exc), probe=False) from None
        except BotoCoreError as exc:   # endpoint unreachable, connection closed
            raise RemoteUnavailable(f"{raster}: the server did not answer ({exc})",
                                    "check AWS_S3_ENDPOINT / AWS_HTTPS or the network, then run again with "
                                    "--resume") from None
        return {"size": head["ContentLength"], "etag": head.get("ETag", "")}
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(urllib.request.Request(raster.url, method="HEAD"), timeout=30) as reply:
            return {"size": int(reply.headers.get("Content-Length", -1)),
                    "etag": reply.headers.get("ETag") or reply.headers.get("Last-Modified", "")}
    except urllib.error.HTTPError as exc:   # the server answered: 404, 403 ...
        raise remote_error(raster, f"HTTP {exc.code} {exc.reason}", probe=False) from None
    except (urllib.error.URLError, OSError) as exc:
        raise RemoteUnavailable(f"{raster}: the server did not answer ({exc})",
                                "check the URL or the network, then run again with --resume") from None


def s3_endpoint() -> str | None:
    """The S3 endpoint URL from GDAL's variables (``AWS_S3_ENDPOINT`` + ``AWS_HTTPS``), else boto3's own
    ``AWS_ENDPOINT_URL``, else None (AWS itself)."""
    host = os.environ.get("AWS_S3_ENDPOINT")
    if host:
        if "://" in host:
            return host
        scheme = "http" if os.environ.get("AWS_HTTPS", "YES").upper() in ("NO", "FALSE", "OFF", "0") else "https"
        return f"{scheme}://{host}"
    return os.environ.get("AWS_ENDPOINT_URL") or None


def s3_client():
    """A boto3 S3 client for the same endpoint and credentials GDAL uses (boto3: the ``remote`` extra)."""
    try:
        import boto3
        from botocore.config import Config
    except ImportError:
        raise InputError("s3:// needs boto3, which is not installed", "pip install 'trtbench[remote]'") from None
    path_style = os.environ.get("AWS_VIRTUAL_HOSTING", "TRUE").upper() in ("NO", "FALSE", "OFF", "0")
    config = Config(s3={"addressing_style": "path" if path_style else "auto"}, retries={"max_attempts": 2})
    # A new session each time: the default one keeps the first credentials it found, whatever the environment says now.
    return boto3.session.Session().client("s3", endpoint_url=s3_endpoint(), config=config)
