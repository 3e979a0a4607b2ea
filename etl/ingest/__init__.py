"""Ingest: turn a SiW tree into `videos` and `frames` rows, and a photo tree into `photos` rows.

`plan` decides which sources are new or changed, `video` and `photo` process one source inside a
Ray task (decode, locate, align, encode, write its own Parquet file), `store` commits what the
tasks wrote, `summary` counts the outcome, `memory_guard` stops a task before it runs a worker
out of memory, `provenance` records where a row was made, `run` orchestrates the jobs.

May import: `etl.lake`, `etl.sources`, `etl.faces`, `etl.config`, `etl.errors`, `schemas`.
"""
