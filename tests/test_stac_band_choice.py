"""Choosing a band-agnostic artifact's bands from STAC items' band metadata: the sensor table the items'
collection names (else the artifact's, with a warning), the bands every item offers, each left-out band with
its reason."""

from __future__ import annotations

import pytest
from serve_support import wavelength_weighted_onnx

from trtbench.artifact import read_artifact_metadata
from trtbench.errors import InputError
from trtbench.stac.band_choice import choose_item_bands


def item(item_id: str, bands: list[dict], collection: str | None = None) -> dict:
    """An item with one single-band asset per band record (eo:bands), JPEG 2000 duplicates where asked."""
    assets = {f"a{i}": {"href": f"{i}.tif", "type": "image/tiff; application=geotiff", "eo:bands": [b]}
              for i, b in enumerate(bands)}
    return {"type": "Feature", "id": item_id, "assets": assets} | ({"collection": collection} if collection else {})


@pytest.fixture(scope="module")
def meta(tmp_path_factory: pytest.TempPathFactory):
    """A band-agnostic artifact exported for sentinel-2-l2a, trained on 0.45-2.5 µm, at most 8 bands."""
    return read_artifact_metadata(wavelength_weighted_onnx(tmp_path_factory.mktemp("any") / "any.onnx"))


def test_the_collection_names_the_table_and_only_bands_every_item_offers_are_chosen(meta):
    first = item("a", [{"name": "SR_B4", "common_name": "red"}, {"name": "SR_B3", "common_name": "green"},
                       {"name": "SR_B5", "common_name": "nir08"}], "landsat-c2-l2")
    second = item("b", [{"common_name": "green"}, {"common_name": "red"}], "landsat-c2-l2")
    choice = choose_item_bands([first, second], meta, None)
    assert (choice.sensor, choice.bands, choice.warning) == ("landsat-c2l2-sr", ("B4", "B3"), None)
    assert choice.left_out["B5"] == "no asset in item b" and "landsat-c2-l2" in choice.table_from


def test_an_asset_known_only_by_wavelength_holds_one_band(meta):
    """0.85 µm lies within the tolerance of both B08 (0.842) and B8A (0.865): the first in table order takes it."""
    choice = choose_item_bands([item("a", [{"center_wavelength": 0.85}, {"common_name": "red"}],
                                     "sentinel-2-l2a")], meta, None)
    assert choice.bands == ("B04", "B08") and choice.left_out["B8A"] == "its nearest asset already holds B08"


def test_an_unknown_collection_falls_back_to_the_artifacts_table_with_a_warning(meta):
    choice = choose_item_bands([item("a", [{"common_name": "blue"}, {"common_name": "red"}], "my-drone")],
                               meta, None)
    assert choice.sensor == "sentinel-2-l2a" and choice.bands == ("B02", "B04")
    assert "my-drone" in choice.warning and "--sensor" in choice.warning
    told = choose_item_bands([item("a", [{"common_name": "blue"}], "my-drone")], meta, "sentinel-2-l1c")
    assert (told.sensor, told.table_from, told.warning) == ("sentinel-2-l1c", "--sensor", None)


def test_items_of_different_sensors_or_more_bands_than_the_graph_takes(meta):
    with pytest.raises(InputError, match="collections of different sensors"):
        choose_item_bands([item("a", [{"common_name": "red"}], "sentinel-2-l2a"),
                           item("b", [{"common_name": "red"}], "landsat-c2-l2")], meta, None)
    every = [{"name": n} for n in ("B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12")]
    choice = choose_item_bands([item("a", every, "sentinel-2-l2a")], meta, None)
    assert choice.bands == tuple(b["name"] for b in every[:8])
    assert choice.left_out == {"B11": "the artifact takes at most 8 bands", "B12": "the artifact takes at most 8 bands"}


def test_a_model_conditioned_on_bandwidths_takes_no_band_of_a_table_without_them(meta):
    """Copernicus-FM-like artifacts also take each band's bandwidth: the Landsat tables give none."""
    needs_widths = meta.with_(inputs=[*meta.inputs, "bandwidths"])
    landsat = item("a", [{"common_name": "red"}, {"common_name": "green"}], "landsat-c2-l2")
    with pytest.raises(InputError, match="offer none of the landsat-c2l2-sr bands") as refused:
        choose_item_bands([landsat], needs_widths, None)
    assert "B4: the model needs its bandwidth" in refused.value.problem
    sentinel = item("b", [{"common_name": "red"}], "sentinel-2-l2a")
    assert choose_item_bands([sentinel], needs_widths, None).bands == ("B04",)
