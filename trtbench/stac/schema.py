"""The JSON schemas a trtbench STAC MLM item follows, stored in ``schemas/`` and resolved offline.

Validation never reaches the network: every schema the MLM schema and the STAC Item core schema refer to
is a file here, registered in a ``referencing`` registry under the URI that refers to it.

Sources (copied verbatim from the public repositories; versions in the file names):

- ``mlm-v1.5.2.json``: stac-extensions/mlm ``json-schema/schema.json`` at v1.5.2, the newest release stored
  (stac-model 0.7.0 ships no schema file);
- ``classification-v1.1.0.json``, ``raster-v1.1.0.json``, ``processing-v1.1.0.json``: the ``json-schema/schema.json``
  of stac-extensions/classification, /raster and /processing at tag v1.1.0 (the versions the MLM schema refers to;
  processing's file at v1.1.0 still says ``v1.0.0`` in its ``$id``, so it is registered under the referred URI);
- ``stac-v1.0.0-*.json``: radiantearth/stac-spec ``item-spec/json-schema/`` at tag v1.0.0;
- ``geojson-Feature.json``, ``geojson-Geometry.json``: geojson/schema's published files (its gh-pages branch).
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

MLM_VERSION = "v1.5.2"
MLM_SCHEMA = f"https://stac-extensions.github.io/mlm/{MLM_VERSION}/schema.json"
STAC_VERSION = "1.0.0"
ITEM_SCHEMA = f"https://schemas.stacspec.org/v{STAC_VERSION}/item-spec/json-schema/item.json"
EO_SCHEMA = "https://stac-extensions.github.io/eo/v1.1.0/schema.json"
FILE_SCHEMA = "https://stac-extensions.github.io/file/v2.1.0/schema.json"
CLASSIFICATION_SCHEMA = "https://stac-extensions.github.io/classification/v1.1.0/schema.json"

_STAC_ITEM = f"https://schemas.stacspec.org/v{STAC_VERSION}/item-spec/json-schema"
# URI the schemas are referred to by -> stored file.
SCHEMA_FILES = {
    MLM_SCHEMA: "mlm-v1.5.2.json",
    CLASSIFICATION_SCHEMA: "classification-v1.1.0.json",
    "https://stac-extensions.github.io/raster/v1.1.0/schema.json": "raster-v1.1.0.json",
    "https://stac-extensions.github.io/processing/v1.1.0/schema.json": "processing-v1.1.0.json",
    "https://geojson.org/schema/Feature.json": "geojson-Feature.json",
    "https://geojson.org/schema/Geometry.json": "geojson-Geometry.json",
    **{f"{_STAC_ITEM}/{name}.json": f"stac-v{STAC_VERSION}-{name}.json"
       for name in ("item", "basics", "datetime", "instrument", "licensing", "provider")},
}


def load_schema(uri: str) -> dict[str, Any]:
    """The stored schema referred to by ``uri``."""
    text = resources.files("trtbench.stac").joinpath("schemas", SCHEMA_FILES[uri]).read_text(encoding="utf-8")
    return json.loads(text)


@cache
def _registry():
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT7

    return Registry().with_resources(
        (uri, Resource.from_contents(load_schema(uri), default_specification=DRAFT7)) for uri in SCHEMA_FILES)


def validation_errors(item: dict[str, Any]) -> list[str]:
    """Every way ``item`` breaks the STAC Item core schema or the MLM schema (empty: valid), one line each.

    Needs ``jsonschema`` (the ``stac`` extra); nothing is fetched: an unknown reference fails instead.
    """
    from jsonschema import Draft7Validator

    errors = []
    for uri in (ITEM_SCHEMA, MLM_SCHEMA):
        validator = Draft7Validator(load_schema(uri), registry=_registry())
        for error in validator.iter_errors(item):
            where = "/".join(str(p) for p in error.absolute_path) or "(item)"
            errors.append(f"{uri.split('/')[-2] if 'mlm' in uri else 'item'}: {where}: {error.message[:300]}")
    return errors
