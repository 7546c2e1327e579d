"""Remote scenes: predict reads COGs over HTTP range requests and from S3 (moto's S3 API server), writes to S3,
and gives the same bytes as a local run, reading no more than the windows it uses; failures of the storage
are clear errors that leave nothing partial, and ``--resume`` finishes the run once the server is back.

Servers run on 127.0.0.1 in child processes started by the fixtures (tests/remote_servers.py)."""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio
from cli_helpers import run_cli
from predict_support import LANDSAT8, conv_artifact, crop_scene, read_raster
from rasterio.shutil import copy as gdal_copy
from rasterio.windows import Window
from remote_servers import environment, moto_server, range_server
from serve_support import wavelength_weighted_onnx

from trtbench.predict.many import PROGRESS_TOPIC
from trtbench.predict.upload import staging_dir
from trtbench.raster import read_chip

boto3 = pytest.importorskip("boto3", reason="S3 output needs boto3 (the `remote` extra)")
pytest.importorskip("moto.server", reason="the S3 tests need moto[server] (dev extra)")

TILE = ("--tile", "128", "--quiet")


@pytest.fixture(scope="module")
def cogs(tmp_path_factory: pytest.TempPathFactory, landsat_scene: Path) -> Path:
    """A 384 x 320 part of the real Landsat 8 scene as a COG (128-pixel blocks, overviews), and a copy cut short."""
    folder = tmp_path_factory.mktemp("cogs")
    part = crop_scene(landsat_scene, folder / "part.tif", Window(200, 150, 384, 320))
    gdal_copy(str(part), str(folder / "scene.tif"), driver="COG", BLOCKSIZE=128, COMPRESS="DEFLATE")
    part.unlink()
    data = (folder / "scene.tif").read_bytes()
    (folder / "broken.tif").write_bytes(data[: len(data) * 2 // 3])
    return folder


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return conv_artifact(tmp_path_factory.mktemp("art") / "l8.onnx", LANDSAT8, nodata=0.0)


@pytest.fixture(scope="module")
def local_cog(cogs: Path, artifact: Path, tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The class map of the local COG: what every remote run must reproduce byte for byte."""
    out = tmp_path_factory.mktemp("local")
    from cli_helpers import exit_code

    assert exit_code("predict", artifact, cogs / "scene.tif", "-o", out, *TILE) == 0
    return (out / "scene.class.tif").read_bytes()


@pytest.fixture(scope="module")
def http(cogs: Path):
    with range_server(cogs) as server:
        yield server


@pytest.fixture(scope="module")
def s3(cogs: Path):
    """moto's S3 server enforcing credentials (an IAM user allowed s3:*, created by the first three requests),
    with bucket ``scenes`` (the COGs) and an empty bucket ``results``; GDAL and boto3 are pointed at it through
    the usual AWS variables."""
    with moto_server(auth_after=3) as endpoint:
        url = f"http://{endpoint}"
        iam = boto3.client("iam", endpoint_url=url, region_name="us-east-1", aws_access_key_id="setup",
                           aws_secret_access_key="setup")
        iam.create_user(UserName="trtbench")
        key = iam.create_access_key(UserName="trtbench")["AccessKey"]
        iam.put_user_policy(UserName="trtbench", PolicyName="s3", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
        with environment(AWS_ACCESS_KEY_ID=key["AccessKeyId"], AWS_SECRET_ACCESS_KEY=key["SecretAccessKey"],
                         AWS_REGION="us-east-1", AWS_DEFAULT_REGION="us-east-1", AWS_S3_ENDPOINT=endpoint,
                         AWS_HTTPS="NO", AWS_VIRTUAL_HOSTING="FALSE", TRTBENCH_STAGING=str(cogs.parent / "staging")):
            client = boto3.client("s3", endpoint_url=url)
            for bucket in ("scenes", "results"):
                client.create_bucket(Bucket=bucket)
            for name in ("scene.tif", "broken.tif"):
                client.upload_file(str(cogs / name), "scenes", name)
            client.upload_file(str(cogs / "scene.tif"), "scenes", "private.tif")   # read by no other test
            yield client


def keys(client, bucket: str, prefix: str = "") -> list[str]:
    return sorted(o["Key"] for o in client.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []))


def full_resolution_bytes(path: Path) -> int:
    """Bytes of the scene's full-resolution blocks: the windows predict reads cover the whole scene."""
    with rasterio.open(path) as ds:
        return sum(ds.block_size(1, i, j) for (i, j), _ in ds.block_windows(1))


def test_http_scene_matches_the_local_cog_and_reads_only_its_windows(http, cogs, artifact, local_cog, tmp_path,
                                                                     capsys):
    http.reset()
    result = run_cli(capsys, "predict", artifact, f"{http.url}/scene.tif", "-o", tmp_path, *TILE)
    assert result.code == 0, result.err
    assert (tmp_path / "scene.class.tif").read_bytes() == local_cog
    served = http.stats()["served"]
    assert served <= 1.2 * full_resolution_bytes(cogs / "scene.tif")   # overviews never fetched
    assert served < (cogs / "scene.tif").stat().st_size
    assert json.loads((tmp_path / "scene.json").read_text())["scene"] == f"{http.url}/scene.tif"


def test_eval_reads_remote_chips_like_local_ones(http, cogs):
    remote, local = read_chip(f"{http.url}/scene.tif"), read_chip(cogs / "scene.tif")
    assert np.array_equal(remote.pixels, local.pixels) and remote.descriptions == local.descriptions
    assert str(remote.path) == f"{http.url}/scene.tif"


def test_s3_scene_into_s3_output(s3, artifact, local_cog, tmp_path, capsys):
    result = run_cli(capsys, "predict", artifact, "s3://scenes/scene.tif", "-o", "s3://results/run1/", *TILE)
    assert result.code == 0, result.err
    assert keys(s3, "results", "run1/") == ["run1/scene.class.tif", "run1/scene.json"]
    s3.download_file("results", "run1/scene.class.tif", str(tmp_path / "class.tif"))
    assert (tmp_path / "class.tif").read_bytes() == local_cog
    assert not staging_dir("s3://results/run1/").exists()   # uploaded, the local copy is gone


@pytest.mark.parametrize("where", ["http", "s3"])
def test_a_missing_object_is_named_and_nothing_is_written(where, http, s3, artifact, tmp_path, capsys):
    scene = f"{http.url}/nope.tif" if where == "http" else "s3://scenes/nope.tif"
    result = run_cli(capsys, "predict", artifact, scene, "-o", "s3://results/missing/", *TILE)
    assert result.code == 2 and "nope.tif: no such object" in result.err and "fix:" in result.err
    assert keys(s3, "results", "missing/") == []


def test_a_missing_output_bucket_stops_before_any_work(s3, artifact, capsys):
    result = run_cli(capsys, "predict", artifact, "s3://scenes/scene.tif", "-o", "s3://no-such-bucket/x/", *TILE)
    assert result.code == 2 and "bucket no-such-bucket does not exist" in result.err


def test_wrong_credentials_are_refused(s3, artifact, tmp_path, capsys):
    with environment(AWS_ACCESS_KEY_ID="AKIAWRONGKEY00000000", AWS_SECRET_ACCESS_KEY="wrong"):
        # an object no test read before: GDAL caches what it fetched, whoever asks next
        reading = run_cli(capsys, "predict", artifact, "s3://scenes/private.tif", "-o", tmp_path, *TILE)
        writing = run_cli(capsys, "predict", artifact, f"{tmp_path}/none.tif", "-o", "s3://results/denied/", *TILE)
    assert reading.code == 2 and "private.tif: access denied" in reading.err and "AWS_ACCESS_KEY_ID" in reading.err
    assert not list(tmp_path.iterdir())
    assert writing.code == 2 and "access to bucket results denied" in writing.err   # checked before the scene
    assert keys(s3, "results", "denied/") == []


def test_a_corrupt_remote_cog_leaves_nothing(s3, artifact, capsys):
    result = run_cli(capsys, "predict", artifact, "s3://scenes/broken.tif", "-o", "s3://results/broken/", *TILE)
    assert result.code == 2 and "broken.tif" in result.err and "fix:" in result.err
    assert keys(s3, "results", "broken/") == []


def test_server_stopped_mid_run_then_resume_finishes_it(http, artifact, local_cog, tmp_path, capsys):
    http.stop(after_bytes=60_000)   # the server goes away part of the way through the scene
    try:
        failed = run_cli(capsys, "predict", artifact, f"{http.url}/scene.tif?cut", "-o", tmp_path, *TILE)
    finally:
        http.restart()
    assert failed.code == 2 and "did not answer" in failed.err and "--resume" in failed.err
    assert not (tmp_path / "scene.class.tif").exists() and not (tmp_path / "scene.json").exists()
    resumed = run_cli(capsys, "predict", artifact, f"{http.url}/scene.tif?cut", "-o", tmp_path, "--resume", *TILE)
    assert resumed.code == 0, resumed.err
    summary = json.loads((tmp_path / "scene.json").read_text())
    assert summary["resumed_from_tile_row"], "the resumed run continued, it did not start over"
    assert (tmp_path / "scene.class.tif").read_bytes() == local_cog


def test_staging_survives_a_failed_upload_for_resume(tmp_path):
    """The staging folder of an s3:// output is fixed per URL (so --resume finds it) and separate per URL."""
    with environment(TRTBENCH_STAGING=str(tmp_path)):
        assert staging_dir("s3://a/x/") == staging_dir("s3://a/x/") != staging_dir("s3://a/y/")
        assert staging_dir("s3://a/x/").parent == tmp_path
    assert os.environ.get("TRTBENCH_STAGING") != str(tmp_path)
    shutil.rmtree(tmp_path, ignore_errors=True)


# STAC input: an Item with one COG per band, Sentinel-2 style (10 m bands and a 20 m band), served over HTTP.
S2_BANDS = {"B02": (2, "blue", 0.493), "B03": (3, "green", 0.56), "B04": (4, "red", 0.665), "B8A": (9, "nir08", 0.865)}
COASTAL = ("B01", 1, "coastal", 0.443)   # a 60 m band the items offer too, outside the band-agnostic test model's range


def write_item(folder: Path, chip: Path, item_id: str, window: Window | None = None) -> dict:
    """Per-band COGs of ``chip`` (a ``window`` of it) in ``folder``, as a Sentinel-2 L1C catalogue ships them
    (B8A decimated to 20 m, B01 to 60 m), and the Item describing them with eo:bands."""
    with rasterio.open(chip) as ds:
        profile = {k: ds.profile[k] for k in ("crs", "dtype", "nodata")}
        grid = ds.window_transform(window) if window else ds.transform
        arrays = {name: ds.read(index, window=window) for name, (index, _, _) in
                  [*S2_BANDS.items(), (COASTAL[0], COASTAL[1:])]}
    assets = {}
    for name, (_, common, wavelength) in [*S2_BANDS.items(), (COASTAL[0], COASTAL[1:])]:
        step = {"B8A": 2, "B01": 4}.get(name, 1)
        data, transform = arrays[name][::step, ::step], grid @ rasterio.Affine.scale(step)
        tmp = folder / f"{name}.plain.tif"
        with rasterio.open(tmp, "w", driver="GTiff", width=data.shape[1], height=data.shape[0], count=1,
                           transform=transform, **profile) as out:
            out.write(data, 1)
        gdal_copy(str(tmp), str(folder / f"{name}.tif"), driver="COG", BLOCKSIZE=128)
        tmp.unlink()
        assets[common] = {"href": f"{name}.tif", "type": "image/tiff; application=geotiff; profile=cloud-optimized",
                          "roles": ["data"], "eo:bands": [{"name": name, "common_name": common,
                                                           "center_wavelength": wavelength}]}
    return {"type": "Feature", "stac_version": "1.0.0", "id": item_id, "collection": "sentinel-2-l1c",
            "geometry": None, "properties": {"datetime": "2019-09-18T00:00:00Z"}, "links": [], "assets": assets,
            "stac_extensions": ["https://stac-extensions.github.io/eo/v1.1.0/schema.json"]}


@pytest.fixture(scope="module")
def s2_item(tmp_path_factory: pytest.TempPathFactory, s2_chip: Path) -> Path:
    """Per-band COGs cut from the real Sentinel-2 chip (B8A decimated to half resolution, as a 20 m band is),
    an Item describing them with eo:bands, and the same bands stacked locally on the 10 m grid (the oracle:
    B8A brought back with rasterio.warp.reproject, nearest), all in one folder; plus, in ``second/``, a second
    item cut from another part of the chip, and ``collection.json``, an ItemCollection of the two."""
    from rasterio.warp import Resampling, reproject

    folder = tmp_path_factory.mktemp("stac")
    with rasterio.open(s2_chip) as ds:
        profile = {k: ds.profile[k] for k in ("crs", "dtype", "nodata")}
        grid, shape = ds.transform, ds.shape
        arrays = {name: ds.read(index) for name, (index, _, _) in S2_BANDS.items()}
    coarse = grid @ rasterio.Affine.scale(2)
    item = write_item(folder, s2_chip, "S2_spain_7370579")
    (folder / "item.json").write_text(json.dumps(item))
    (folder / "second").mkdir()
    second = write_item(folder / "second", s2_chip, "S2_spain_7370579_part", Window(128, 192, 256, 192))
    for asset in second["assets"].values():
        asset["href"] = f"second/{asset['href']}"
    (folder / "collection.json").write_text(json.dumps({"type": "FeatureCollection", "features": [item, second]}))
    nir = np.zeros(shape, arrays["B8A"].dtype)
    reproject(arrays["B8A"][::2, ::2], nir, src_transform=coarse, dst_transform=grid, src_crs=profile["crs"],
              dst_crs=profile["crs"], resampling=Resampling.nearest)
    stack = [arrays["B02"], arrays["B03"], arrays["B04"], nir]
    with rasterio.open(folder / "S2_spain_7370579.tif", "w", driver="GTiff", width=shape[1], height=shape[0],
                       count=4, transform=grid, **profile) as out:
        out.write(np.stack(stack))
        out.descriptions = tuple(S2_BANDS)
    return folder


@pytest.fixture(scope="module")
def s2_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from trtbench.sensors import get_sensor

    sensor = get_sensor("sentinel-2-l1c").select(list(S2_BANDS))
    return conv_artifact(tmp_path_factory.mktemp("s2art") / "s2.onnx", sensor, nodata=0.0)


@pytest.fixture(scope="module")
def s2_http(s2_item: Path):
    with range_server(s2_item) as server:
        yield server


@pytest.fixture(scope="module")
def s2_local(s2_item: Path, s2_artifact: Path, tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The class map of the locally stacked bands: what every run of the item must reproduce byte for byte."""
    from cli_helpers import exit_code

    out = tmp_path_factory.mktemp("s2local")
    assert exit_code("predict", s2_artifact, s2_item / "S2_spain_7370579.tif", "-o", out, *TILE) == 0
    return (out / "S2_spain_7370579.class.tif").read_bytes()


def test_a_stac_item_with_per_band_cogs_runs_end_to_end(s2_item, s2_http, s2_artifact, s2_local, tmp_path, capsys):
    s2_http.reset()
    by_item = run_cli(capsys, "predict", s2_artifact, f"{s2_http.url}/item.json", "-o", tmp_path / "item", *TILE)
    served = s2_http.stats()["served"]
    assert by_item.code == 0, by_item.err
    assert (tmp_path / "item" / "S2_spain_7370579.class.tif").read_bytes() == s2_local
    summary = json.loads((tmp_path / "item" / "S2_spain_7370579.json").read_text())
    assert summary["band_match"] == "band descriptions" and summary["valid_pixels"] > 0.9 * summary["pixels"]
    assert summary["width"] == summary["height"] == 512   # on the 10 m grid, B8A resampled onto it
    assert served <= 1.2 * sum((s2_item / f"{b}.tif").stat().st_size for b in S2_BANDS)   # B01 never read


def test_a_stac_item_over_http_into_s3_gives_the_local_cog(s3, s2_http, s2_artifact, s2_local, tmp_path, capsys):
    result = run_cli(capsys, "predict", s2_artifact, f"{s2_http.url}/item.json", "-o", "s3://results/stac/", *TILE)
    assert result.code == 0, result.err
    assert keys(s3, "results", "stac/") == ["stac/S2_spain_7370579.class.tif", "stac/S2_spain_7370579.json"]
    s3.download_file("results", "stac/S2_spain_7370579.class.tif", str(tmp_path / "class.tif"))
    assert (tmp_path / "class.tif").read_bytes() == s2_local
    assert not staging_dir("s3://results/stac/").exists()   # uploaded; the staging copy and its VRT are gone


def test_an_item_collection_is_spread_over_dask_one_output_per_item(s2_http, s2_artifact, s2_local, s2_chip,
                                                                     tmp_path, capsys):
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None,
                      silence_logs=logging.CRITICAL) as cluster:
        result = run_cli(capsys, "predict", s2_artifact, f"{s2_http.url}/collection.json", "-o", tmp_path / "out",
                         "--scheduler", cluster.scheduler_address, "--json", tmp_path / "run.json", *TILE)
        reported = {msg["scene"] for _, msg in cluster.scheduler.get_events(PROGRESS_TOPIC)}   # by the Dask workers
    assert result.code == 0, result.err
    assert reported == {"S2_spain_7370579.vrt", "S2_spain_7370579_part.vrt"}
    done = json.loads((tmp_path / "run.json").read_text())["done"]
    assert sorted(Path(scene).stem for scene in done) == ["S2_spain_7370579", "S2_spain_7370579_part"]
    assert (tmp_path / "out" / "S2_spain_7370579.class.tif").read_bytes() == s2_local
    classes, grid = read_raster(tmp_path / "out" / "S2_spain_7370579_part.class.tif")
    with rasterio.open(s2_chip) as ds:
        assert grid["transform"] == ds.window_transform(Window(128, 192, 256, 192))
    assert (grid["height"], grid["width"]) == (192, 256) and (classes != grid["nodata"]).mean() > 0.9


@pytest.fixture(scope="module")
def any_bands(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return wavelength_weighted_onnx(tmp_path_factory.mktemp("any") / "any.onnx")


def test_a_band_agnostic_artifact_takes_the_bands_the_item_offers(s2_item, s2_http, any_bands, tmp_path, capsys):
    auto = run_cli(capsys, "predict", any_bands, f"{s2_http.url}/item.json", "-o", tmp_path / "auto",
                   "--json", tmp_path / "auto.json", *TILE)
    assert auto.code == 0, auto.err
    said = [line for line in auto.err.splitlines() if line.startswith("bands from the STAC item")]
    assert len(said) == 1 and "B02, B03, B04, B8A of sentinel-2-l1c" in said[0]
    assert "collection sentinel-2-l1c" in said[0] and "B01 (0.443 µm, outside" in said[0]
    choice = json.loads((tmp_path / "auto.json").read_text())["stac_bands"]
    assert choice["bands"] == ["B02", "B03", "B04", "B8A"] and choice["warning"] is None
    assert "no asset in item S2_spain_7370579" in choice["left_out"]["B05"]
    summary = json.loads((tmp_path / "auto" / "S2_spain_7370579.json").read_text())
    assert summary["bands"] == ["B02", "B03", "B04", "B8A"]
    output = summary["outputs"]["embedding"]
    # The same bands named explicitly, on the locally stacked file: the same bytes (same bands, same statistics).
    told = run_cli(capsys, "predict", any_bands, s2_item / "S2_spain_7370579.tif", "-o", tmp_path / "told",
                   "--sensor", "sentinel-2-l1c", "--bands", "B02,B03,B04,B8A", *TILE)
    assert told.code == 0, told.err
    assert (tmp_path / "auto" / output).read_bytes() == (tmp_path / "told" / output).read_bytes()
    # An explicit --bands wins over what the item offers.
    explicit = run_cli(capsys, "predict", any_bands, f"{s2_http.url}/item.json", "-o", tmp_path / "explicit",
                       "--sensor", "sentinel-2-l1c", "--bands", "B04,B03", *TILE)
    assert explicit.code == 0, explicit.err
    assert "bands from the STAC item" not in explicit.err
    assert json.loads((tmp_path / "explicit" / "S2_spain_7370579.json").read_text())["bands"] == ["B04", "B03"]
    assert (tmp_path / "explicit" / output).read_bytes() != (tmp_path / "auto" / output).read_bytes()


def test_an_item_with_a_corrupt_asset_leaves_no_output_folder(s2_item, s2_artifact, tmp_path, capsys):
    """The VRT stacking the item is written into the output folder before the pixels are read; a failed run
    takes it away again with the folder it created."""
    data = (s2_item / "B02.tif").read_bytes()
    (s2_item / "B02_cut.tif").write_bytes(data[: len(data) * 2 // 3])   # the header reads, the pixels do not
    item = json.loads((s2_item / "item.json").read_text())
    item["assets"]["blue"]["href"] = "B02_cut.tif"
    (s2_item / "cut.json").write_text(json.dumps(item))
    result = run_cli(capsys, "predict", s2_artifact, s2_item / "cut.json", "-o", tmp_path / "out", *TILE)
    assert result.code == 2 and "fix:" in result.err and "Traceback" not in result.err
    assert not (tmp_path / "out").exists()


def test_an_items_server_stopping_mid_run_is_resumed_from_its_vrt(s2_item, s2_http, s2_artifact, s2_local, tmp_path,
                                                                   capsys):
    item = json.loads((s2_item / "item.json").read_text())
    for asset in item["assets"].values():
        asset["href"] += "?resume"   # URLs no other test read: GDAL caches what it fetched
    (s2_item / "resume.json").write_text(json.dumps(item))
    out = tmp_path / "out"
    s2_http.stop(after_bytes=sum((s2_item / f"{b}.tif").stat().st_size for b in S2_BANDS) // 3)
    try:
        failed = run_cli(capsys, "predict", s2_artifact, f"{s2_http.url}/resume.json", "-o", out, *TILE)
    finally:
        s2_http.restart()
    assert failed.code == 2 and "did not answer" in failed.err and "--resume" in failed.err, failed.err
    assert not (out / "S2_spain_7370579.class.tif").exists()
    resumed = run_cli(capsys, "predict", s2_artifact, f"{s2_http.url}/resume.json", "-o", out, "--resume", *TILE)
    assert resumed.code == 0, resumed.err
    assert json.loads((out / "S2_spain_7370579.json").read_text())["resumed_from_tile_row"]
    assert (out / "S2_spain_7370579.class.tif").read_bytes() == s2_local


def test_a_band_agnostic_artifact_refuses_an_item_offering_no_band_it_takes(s2_item, any_bands, tmp_path, capsys):
    item = json.loads((s2_item / "item.json").read_text())
    item["assets"] = {"coastal": item["assets"]["coastal"]}   # B01 only: outside the model's trained range
    (s2_item / "coastal_only.json").write_text(json.dumps(item))
    result = run_cli(capsys, "predict", any_bands, s2_item / "coastal_only.json", "-o", tmp_path / "out", *TILE)
    assert result.code == 2 and "offer none of the sentinel-2-l1c bands" in result.err and "fix:" in result.err
    assert "B01: 0.443 µm, outside" in result.err and not (tmp_path / "out").exists()


def test_a_stac_item_lacking_a_band_or_mixing_crss_is_refused(s2_item, s2_artifact, tmp_path, capsys):
    item = json.loads((s2_item / "item.json").read_text())
    del item["assets"]["nir08"]
    (s2_item / "no_nir.json").write_text(json.dumps(item))
    result = run_cli(capsys, "predict", s2_artifact, s2_item / "no_nir.json", "-o", tmp_path / "a", *TILE)
    assert result.code == 2 and "has no asset for band B8A" in result.err and "fix:" in result.err
    good = json.loads((s2_item / "item.json").read_text())
    (s2_item / "good_then_bad.json").write_text(json.dumps({"type": "FeatureCollection", "features": [good, item]}))
    result = run_cli(capsys, "predict", s2_artifact, s2_item / "good_then_bad.json", "-o", tmp_path / "c", *TILE)
    assert result.code == 2 and "has no asset for band B8A" in result.err
    assert not (tmp_path / "c").exists()   # the first item's VRT is not written either
    from rasterio.warp import calculate_default_transform, reproject

    with rasterio.open(s2_item / "B8A.tif") as ds:
        transform, width, height = calculate_default_transform(ds.crs, "EPSG:3857", ds.width, ds.height, *ds.bounds)
        with rasterio.open(s2_item / "B8A_3857.tif", "w", driver="GTiff", width=width, height=height, count=1,
                           crs="EPSG:3857", transform=transform, dtype=ds.dtypes[0]) as out:
            reproject(rasterio.band(ds, 1), rasterio.band(out, 1))
    item = json.loads((s2_item / "item.json").read_text())
    item["assets"]["nir08"]["href"] = "B8A_3857.tif"
    (s2_item / "mixed.json").write_text(json.dumps(item))
    result = run_cli(capsys, "predict", s2_artifact, s2_item / "mixed.json", "-o", tmp_path / "b", *TILE)
    assert result.code == 2 and "mixes CRSs" in result.err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
