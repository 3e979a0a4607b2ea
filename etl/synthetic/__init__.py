"""Synthetic data for the demo, tests and benchmarks, made from real face photos shipped in installed packages.

`face_photos` finds and crops the shipped photos, `videos` renders live and attack videos from
them (one table of per-attack settings, `ATTACKS`), `siw_tree` lays out a SiW-named tree with
`.face` files and planted defects, `photo_registry` writes a photo tree with planted duplicate
registrations, and `run` is the orchestration of `facelake sample` (`run_sample`).

May import: `etl.sources.siw_names`, `etl.errors`, `schemas.vocabulary`. Never imports the lake:
it writes sources, not tables.
"""
