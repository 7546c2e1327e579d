"""Time series and multi-modal inputs: several GeoTIFFs read as one raster.

A time-series artifact (``meta.num_frames`` = T) takes ``[B, T*C, H, W]`` pixels, frame-major; a multi-modal one
(``meta.modalities``) takes its modalities' bands concatenated. Both come as several files on one grid:

- ``a.tif,b.tif`` (one argument, comma-separated): one file per date, in frame order;
- ``s2=A.tif s1=B.tif`` (or ``s2=A.tif,s1=B.tif`` in one argument): one file per modality, keyed by the sensor
  table's name (``sentinel-2-l1c``) or its short alias (``s2``, ``s1``, ``landsat``, ``hls``).

:func:`stack_inputs` checks that the files share one grid (CRS, transform and size; the file that differs is
named), matches each file's bands to its frame's or modality's bands (:func:`trtbench.raster.match_bands`) and
writes a GDAL VRT stacking exactly the model's bands in the model's order, as ``trtbench/stac/scenes.py`` does
for a STAC item: every reader (``eval``'s chips, ``predict``'s windows, ``bench``'s tiles) then sees one
multi-band raster and nothing is copied. Each VRT band is described ``BAND@DATE`` (series) or ``BAND`` and
converted to Float32 with the sources' nodata as NaN (the files may differ in type and nodata, as Sen1Floods11's
int16 S2 and float32 S1 do). How the sources' bands were matched, and any assumption, are kept in the VRT's
metadata (``TRTBENCH_BAND_MATCH``, ``TRTBENCH_BAND_WARNING``), so reports record them as for a single file.

A single file for a time series is a multi-date stack of T*C bands: described ``B02@2020-06-01`` (grouped by
date), or not (then read frame-major: bands 1..C are date 1; an assumption, so it is warned about and recorded,
and ``--strict-bands`` refuses it). :func:`read_input` matches any of these and reads the acquisition
(:mod:`trtbench.acquisition`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from xml.sax.saxutils import escape

from .acquisition import DATES_FIX, TEMPORAL_INPUT, Acquisition, centre_latlon, date_in_tags, date_in_text
from .errors import InputError
from .metadata import ModelMetadata
from .raster import ASSUMED_ORDER, FROM_DESCRIPTIONS, BandMatch, colour_names, match_bands, open_raster
from .remote import as_raster_path

MATCH_TAG, WARNING_TAG, SOURCES_TAG = "TRTBENCH_BAND_MATCH", "TRTBENCH_BAND_WARNING", "TRTBENCH_SOURCES"
STACK_FOLDER = ".trtbench-stacks"   # predict: the VRTs of series and multi-modal scenes, in the output folder
ALIASES = {"s2": "sentinel-2", "s1": "sentinel-1", "landsat": "landsat", "hls": "hls"}
SERIES_FIX = ("pass one file per date as one argument, comma-separated (--data d1.tif,d2.tif), or one stack of "
              "T x bands described BAND@DATE")


@dataclass(frozen=True)
class InputView:
    """How a raster maps onto the artifact's input: its bands (in the model's channel order) and acquisition."""

    match: BandMatch
    acquisition: Acquisition
    name: str   # for messages: the file, or the files a stack was built from


def is_group(arg: str) -> bool:
    """Whether a data argument names several files (a series) or a modality (``s2=A.tif``)."""
    return "," in arg or _key(arg) is not None


def _key(arg: str) -> str | None:
    head, sep, _ = arg.partition("=")
    return head.strip() if sep and "/" not in head and "\\" not in head and head.strip() else None


def stack_inputs(meta: ModelMetadata, args: Sequence[str], folder: str | Path,
                 dates: Sequence[date] | None = None, data_bands: Sequence[str] | None = None,
                 strict: bool = False) -> list[str]:
    """``args`` with every series or modality group replaced by the VRT (in ``folder``) that stacks it.

    Single-modality arguments (``s2=A.tif`` ``s1=B.tif``) together make one sample; an argument holding every
    modality (``s2=A.tif,s1=B.tif``) is a sample of its own. Plain paths pass through unchanged.
    """
    out: list[str | None] = []   # None: where the sample gathered from single-modality arguments goes
    singles: list[tuple[str, str]] = []
    for arg in args:
        items = [item.strip() for item in arg.split(",") if item.strip()]
        keyed = [_key(item) for item in items]
        if any(keyed):
            if not all(keyed):
                raise InputError(f"--data {arg} mixes modality=FILE items with plain files",
                                 "give every file of a multi-modal sample as MODALITY=FILE (e.g. s2=A.tif,s1=B.tif)")
            pairs = [(str(k), item.partition("=")[2].strip()) for k, item in zip(keyed, items)]
            if len(pairs) == 1:
                if not singles:
                    out.append(None)
                singles += pairs
            else:
                out.append(str(modality_stack(meta, pairs, folder, data_bands, strict)))
        elif len(items) > 1:
            out.append(str(series_stack(meta, items, folder, dates, data_bands, strict)))
        else:
            out.append(arg)
    if singles:
        gathered = str(modality_stack(meta, singles, folder, data_bands, strict))
        out = [gathered if item is None else item for item in out]
    stacked = [item for item in out if item is not None]
    built = [item for item in stacked if Path(item).parent == Path(folder)]
    repeated = {item for item in built if built.count(item) > 1}
    if repeated:
        raise InputError(f"two samples would both be read as {', '.join(sorted(repeated))}",
                         "give each sample once, or rename its files so their names differ")
    return stacked


def modality_of(meta: ModelMetadata, key: str) -> str:
    """The artifact's modality named by ``key`` (its sensor table name, or an alias such as ``s2``)."""
    if not meta.modalities:
        raise InputError(f"{key}=FILE names a modality, but this artifact ({meta.model}) takes one input of the "
                         f"bands {', '.join(meta.bands)}, not several modalities", "pass the file without 'KEY='")
    wanted = key.lower()
    prefix = ALIASES.get(wanted, wanted)
    hits = [m for m in meta.modalities if m == wanted] or [m for m in meta.modalities if m.startswith(prefix)]
    if len(hits) != 1:
        raise InputError(f"modality '{key}' is not one of this artifact's: {', '.join(meta.modalities)}",
                         f"key each file by its modality ({', '.join(meta.modalities)}; short: s2, s1)")
    return hits[0]


def modality_stack(meta: ModelMetadata, pairs: Sequence[tuple[str, str]], folder: str | Path,
                   data_bands: Sequence[str] | None = None, strict: bool = False) -> Path:
    """The VRT of one multi-modal sample: each file's bands matched to its modality's, in ``meta.bands`` order."""
    files: dict[str, str] = {}
    for key, path in pairs:
        modality = modality_of(meta, key)
        if modality in files:
            raise InputError(f"two files for modality {modality}: {files[modality]} and {path}",
                             "give one file per modality for each sample (s2=A.tif,s1=B.tif for several samples)")
        files[modality] = path
    missing = [m for m in meta.modalities if m not in files]
    if missing:
        raise InputError(f"no file for modality {', '.join(missing)} (given: {', '.join(f'{m}={p}' for m, p in files.items())})",
                         f"pass one file per modality: {' '.join(f'--data {m}=FILE' for m in meta.modalities)}")
    parts = [(files[m], _sub_meta(meta, bands), bands, None) for m, bands in meta.modalities.items()]
    return _write_stack(parts, folder, data_bands, strict, "+".join(Path(files[m]).stem for m in meta.modalities),
                        series=False)


def series_stack(meta: ModelMetadata, paths: Sequence[str], folder: str | Path, dates: Sequence[date] | None = None,
                 data_bands: Sequence[str] | None = None, strict: bool = False) -> Path:
    """The VRT of one time series: file t is frame t (its bands matched to ``meta.bands``), dated by ``dates``,
    else by its name or tags."""
    if meta.num_frames != len(paths):
        raise InputError(f"{len(paths)} files ({', '.join(paths)}) for an artifact of {meta.num_frames} frame(s)",
                         f"give {meta.num_frames} files, one per date" if meta.num_frames > 1 else
                         "this artifact takes one image: pass the files as separate --data arguments")
    if dates is not None and len(dates) != len(paths):
        raise InputError(f"--dates gives {len(dates)} date(s) for {len(paths)} files", "give one date per file")
    frame = meta.with_(num_frames=1)
    parts = []
    for t, path in enumerate(paths):
        found = dates[t] if dates is not None else _file_date(path)
        if found is None and TEMPORAL_INPUT in meta.inputs:
            raise InputError(f"no acquisition date for {path} (frame {t + 1} of {', '.join(paths)}); the artifact "
                             f"takes the dates as input ({TEMPORAL_INPUT})", DATES_FIX)
        parts.append((path, frame, meta.bands, found))
    known = [d for *_, d in parts if d is not None]
    if len(set(known)) != len(known):
        raise InputError(f"two files of the series {', '.join(paths)} have the same date", "give one file per date")
    return _write_stack(parts, folder, data_bands, strict, f"{Path(paths[0]).stem}--{Path(paths[-1]).stem}",
                        series=True)


def _file_date(path: str) -> date | None:
    found = date_in_text(Path(path).name)
    if found is None:
        with open_raster(path) as ds:
            found = date_in_tags(ds.tags())
    return found


def _sub_meta(meta: ModelMetadata, bands: Sequence[str]) -> ModelMetadata:
    """``meta`` restricted to ``bands`` (one modality): what that modality's file is matched against."""
    at = [meta.bands.index(b) for b in bands]

    def pick(values: list | None) -> list | None:
        return [values[i] for i in at] if values is not None else None

    return meta.with_(bands=list(bands), wavelengths=pick(meta.wavelengths), mean=pick(meta.mean),
                      std=pick(meta.std), bandwidths=pick(meta.bandwidths), modalities=None, num_frames=1)


def _write_stack(parts: Sequence[tuple[str, ModelMetadata, Sequence[str], date | None]], folder: str | Path,
                 data_bands: Sequence[str] | None, strict: bool, name: str, series: bool) -> Path:
    """Check the grid, match every part's bands and write the VRT (rewritten only when it changes, so that
    ``predict --resume`` recognises it). A series' bands are described ``BAND@DATE`` (``BAND@frameN`` when the
    date is unknown), a modality set's ``BAND``."""
    grid, first = None, ""
    bands: list[tuple[str, str, int, float | None]] = []   # (description, source file, source band, its nodata)
    sources, warnings = [], []
    for t, (path, part_meta, names, when) in enumerate(parts):
        with open_raster(path) as ds:
            here = (ds.crs, ds.transform, ds.width, ds.height)
            if grid is None:
                grid, first = here, path
            elif here != grid:
                raise InputError(f"{path} is not on the grid of {first}: {_grid_difference(grid, here)}",
                                 "resample the files onto one grid (same CRS, transform and size) before stacking")
            match = match_bands(part_meta, ds.count, ds.descriptions, colour_names(ds.colorinterp), data_bands,
                                strict=strict, path=path)
            nodata = ds.nodata
        sources.append(match.source)
        if match.warning:
            warnings.append(match.warning)
        label = "" if not series else f"@{when.isoformat()}" if when else f"@frame{t + 1}"
        bands += [(f"{band}{label}", path, index + 1, nodata) for band, index in zip(names, match.indices)]
    crs, transform, width, height = grid
    tags = {MATCH_TAG: ASSUMED_ORDER if ASSUMED_ORDER in sources else "; ".join(dict.fromkeys(sources)),
            SOURCES_TAG: ",".join(dict.fromkeys(path for _, path, _, _ in bands))}
    if warnings:
        tags[WARNING_TAG] = "; ".join(warnings)
    any_nodata = any(nodata is not None for *_, nodata in bands)
    metadata = "".join(f'<MDI key="{k}">{escape(v)}</MDI>' for k, v in tags.items())
    srs = f"<SRS>{escape(crs.to_wkt())}</SRS>" if crs else ""
    vrt = (f'<VRTDataset rasterXSize="{width}" rasterYSize="{height}">{srs}'
           f"<GeoTransform>{', '.join(repr(v) for v in transform.to_gdal())}</GeoTransform>"
           f"<Metadata>{metadata}</Metadata>"
           + "".join(_band_xml(i + 1, *band, any_nodata) for i, band in enumerate(bands)) + "</VRTDataset>")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{_safe(name)}.vrt"
    if not path.is_file() or path.read_text() != vrt:
        path.write_text(vrt)
    return path


def _band_xml(index: int, description: str, source: str, band: int, nodata: float | None,
              any_nodata: bool) -> str:
    """A Float32 VRT band reading ``band`` of ``source``. Where any source declares nodata, every band's nodata is
    NaN and each source's own nodata value is read as NaN, so one nodata value holds for the whole stack."""
    raster = as_raster_path(source)   # a URL is read through GDAL's /vsicurl/ or /vsis3/, as a single file is
    filename = getattr(raster, "gdal_path", None) or str(Path(source).resolve())
    source_nodata = f"<NODATA>{nodata!r}</NODATA>" if nodata is not None else ""
    band_nodata = "<NoDataValue>nan</NoDataValue>" if any_nodata else ""
    return (f'<VRTRasterBand dataType="Float32" band="{index}"><Description>{escape(description)}</Description>'
            f"{band_nodata}<ComplexSource>"
            f'<SourceFilename relativeToVRT="0">{escape(filename)}</SourceFilename><SourceBand>{band}</SourceBand>'
            f"{source_nodata}</ComplexSource></VRTRasterBand>")


def _grid_difference(expected: tuple, found: tuple) -> str:
    crs, transform, width, height = expected
    if found[0] != crs:
        return f"CRS {found[0]} instead of {crs}"
    if (found[2], found[3]) != (width, height):
        return f"size {found[3]}x{found[2]} instead of {height}x{width}"
    return f"geotransform {tuple(found[1])[:6]} instead of {tuple(transform)[:6]}"


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "._-+" else "_" for c in text) or "stack"


def read_input(meta: ModelMetadata, count: int, descriptions: Sequence[str | None], colours: Sequence[str | None],
               tags: Mapping[str, str], georef: tuple, *, file_bands: Sequence[str] | None = None,
               strict: bool = False, dates: Sequence[date] | None = None, path: str | Path) -> InputView:
    """Where the artifact's ``meta.channels`` input channels are among a raster's ``count`` bands, and its
    acquisition (``georef`` = (crs, transform, width, height)).

    A single image is matched by :func:`trtbench.raster.match_bands`; a time series' frames are the dates of
    its ``BAND@DATE`` descriptions, else consecutive groups of ``count / T`` bands (frame-major, assumed). A VRT
    written by :func:`stack_inputs` keeps how its sources' bands were found.
    """
    if MATCH_TAG in tags:   # a stack written by stack_inputs: its descriptions are the model's band names
        file_bands = None
    if meta.num_frames == 1:
        match = match_bands(meta, count, [_band(d) for d in descriptions], colours, file_bands, strict=strict,
                            path=path)
        labels = [_date_label(d) for d in descriptions[:1]] or [None]
        frame_dates: list[date | None] = [labels[0] or date_in_text(Path(str(path)).name) or date_in_tags(tags)]
    else:
        match, frame_dates = _match_frames(meta, count, descriptions, colours, file_bands, strict, path)
    if dates is not None:
        if len(dates) != meta.num_frames:
            raise InputError(f"--dates gives {len(dates)} date(s) for the artifact's {meta.num_frames} frame(s)",
                             "give one date per frame, in frame order")
        frame_dates = list(dates)
    if MATCH_TAG in tags:   # a stack of several files: how their bands were found
        match = BandMatch(match.indices, tags[MATCH_TAG], tags.get(WARNING_TAG) or None)
    return InputView(match, Acquisition(tuple(frame_dates), centre_latlon(*georef)), source_name(path, tags))


def source_name(path: str | Path, tags: Mapping[str, str]) -> str:
    """How to name a raster in messages: a stack by the files it stacks."""
    return f"{path} (stacking {tags[SOURCES_TAG]})" if SOURCES_TAG in tags else str(path)


def _band(description: str | None) -> str | None:
    return description.split("@", 1)[0] if description else description


def _date_label(description: str | None) -> date | None:
    if not description or "@" not in description:
        return None
    return date_in_text(description.split("@", 1)[1])


def _match_frames(meta: ModelMetadata, count: int, descriptions: Sequence[str | None],
                  colours: Sequence[str | None], file_bands: Sequence[str] | None, strict: bool,
                  path: str | Path) -> tuple[BandMatch, list[date | None]]:
    frames, frame = meta.num_frames, meta.with_(num_frames=1)
    labels = [d.split("@", 1)[1] if d and "@" in d else None for d in descriptions]
    if any(labels):
        order = list(dict.fromkeys(label for label in labels if label))
        if len(order) != frames:
            raise InputError(f"{path} holds {len(order)} date(s) ({', '.join(order)}) but the artifact takes "
                             f"{frames} frames", SERIES_FIX)
        indices = []
        for label in order:
            members = [i for i, found in enumerate(labels) if found == label]
            part = match_bands(frame, len(members), [_band(descriptions[i]) for i in members], (), None,
                               strict=strict, path=f"{path} (date {label})")
            indices += [members[j] for j in part.indices]
        return BandMatch(indices, FROM_DESCRIPTIONS), [date_in_text(label) for label in order]
    if count == meta.num_bands:
        raise InputError(f"{path} holds one date ({count} bands) but the artifact takes {frames} dates",
                         SERIES_FIX)
    if count % frames:
        raise InputError(f"{path} has {count} bands, not {frames} dates of the same bands "
                         f"({frames} x {meta.num_bands}: {', '.join(meta.bands)})", SERIES_FIX)
    per = count // frames
    per_frame = (list(file_bands[t * per:(t + 1) * per]) for t in range(frames)) \
        if file_bands and len(file_bands) == count else (file_bands for _ in range(frames))
    indices, warnings = [], []
    for t, names in enumerate(per_frame):
        window = slice(t * per, (t + 1) * per)
        part = match_bands(frame, per, list(descriptions[window]), list(colours[window]), names, strict=strict,
                           path=f"{path} (bands {t * per + 1}-{(t + 1) * per})")
        indices += [t * per + i for i in part.indices]
        if part.warning and part.warning not in warnings:
            warnings.append(part.warning)
    problem = (f"{path} does not say which of its {count} bands belong to which date (no BAND@DATE descriptions): "
               f"assumed frame-major, {frames} dates of {per} bands (bands 1-{per} are the first date)")
    fix = "describe its bands BAND@DATE (e.g. B02@2020-06-01), or pass one file per date (--data d1.tif,d2.tif)"
    if strict:
        raise InputError(f"{problem}; --strict-bands refuses to assume it", fix)
    warning = "; ".join([f"{problem}; to be sure, {fix}", *warnings])
    return BandMatch(indices, ASSUMED_ORDER, warning), [None] * frames


def input_view_of(path: str | Path, meta: ModelMetadata, file_bands: Sequence[str] | None = None,
                  strict: bool = False, dates: Sequence[date] | None = None) -> InputView:
    """:func:`read_input` for a raster (a file or a stack's VRT), reading only its header."""
    with open_raster(path) as ds:
        return read_input(meta, ds.count, ds.descriptions, colour_names(ds.colorinterp), ds.tags(),
                          (ds.crs, ds.transform, ds.width, ds.height), file_bands=file_bands, strict=strict,
                          dates=dates, path=path)
