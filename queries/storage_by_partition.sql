-- Bytes, files and rows per table and partition of every table's current Delta version (from lake_files).
-- `partition` is '' for unpartitioned tables; bytes_share is the partition's share of its table's bytes.
-- Parameters: none.
SELECT
    table_name,
    partition,
    count(*)                 AS files,
    CAST(sum(size_bytes) AS BIGINT)   AS bytes,
    CAST(sum(num_records) AS BIGINT)  AS records,
    sum(size_bytes) / sum(sum(size_bytes)) OVER (PARTITION BY table_name) AS bytes_share
FROM lake_files
GROUP BY table_name, partition
ORDER BY table_name, partition;
