"""Tiled inference on GeoTIFF scenes: streaming windows, seam-free blending, COG outputs, resume, scale-out.

Entry points: :func:`trtbench.predict.scene.predict_scene` (one scene, in this process) and
:func:`trtbench.predict.many.predict_many` (many scenes on Dask). Nothing heavy is imported here,
so registering the CLI command stays cheap.
"""
