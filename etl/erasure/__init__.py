"""Erasure: forget one person everywhere the lake holds them (rows, history, files, derived tables).

`forget` finds the person's footprint, plans and redacts each table, vacuums what history kept,
and records the erasure; it is the `forget` job's run.

May import: `etl.lake`, `etl.config`, `etl.errors`, `schemas`.
"""
