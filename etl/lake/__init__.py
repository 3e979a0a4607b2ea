"""The lake: Delta tables on a local folder or an object store, and everything that reads or keeps them.

`lake.Lake` opens, writes, commits and time-travels the tables; `files` stages Parquet files that
workers write and the driver commits; `storage` resolves lake addresses and credentials;
`catalog` and `query` put DuckDB over the tables; `runs` keeps the `runs` table; `maintenance`
compacts, vacuums and checks the tables.

May import: `schemas`, `etl.errors`, `etl.config`. Nothing here knows faces, videos or models:
every other stage package imports this one, never the other way round.
"""
