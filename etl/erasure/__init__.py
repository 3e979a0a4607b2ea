"""Erasure: forget one person everywhere the lake holds them (rows, history, files, derived tables).

`request` says who (a SiW subject or a registry user, named only by a hash); `footprint` finds
their keys and plans each table's delete; `redact` replaces their names in other jobs' `runs`
rows; `erase` deletes, checks and vacuums; `summary` is what an erasure did; `run.run_forget`
is the `forget` job's run (the one module here that records a run).

May import: `etl.lake`, `etl.config`, `etl.errors`, `schemas`.
"""
