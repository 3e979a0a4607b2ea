"""Report: one HTML page about a lake (counts, detection, sharpness, identities, runs).

`contents` gathers the numbers and pictures from the lake's queries, `html` renders them;
`run.run_report` is the `report` job's run (writes the file).

May import: `etl.lake`, `etl.faces`, `etl.errors`, `schemas`.
"""
