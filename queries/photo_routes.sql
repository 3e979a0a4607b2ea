-- Registered photos per user: how many had one face (single), several (multi), none, or could not be used.
-- second_pass: photos whose face only the second detector pass found.
-- Parameters: none.
SELECT
    "user",
    count(*)                                                       AS photos,
    count(*) FILTER (WHERE route = 'single')                       AS single,
    count(*) FILTER (WHERE route = 'multi')                        AS multi,
    count(*) FILTER (WHERE route = 'none')                         AS "none",
    count(*) FILTER (WHERE status <> 'ok')                         AS failed,
    count(*) FILTER (WHERE detect_pass = 'second')                 AS second_pass,
    count(*) FILTER (WHERE NOT source_present)                     AS gone
FROM photos
GROUP BY "user"
ORDER BY "user";
