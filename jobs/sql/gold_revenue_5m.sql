-- Gold: revenue per 5-minute window of order creation time.
--
-- Source: silver.orders_current (one row per live order; deleted orders are absent).
-- Result: window_start, window_end, orders, revenue — one row per window that has orders.
-- Cancelled orders are not revenue and are left out.
--
-- Portable SQL: runs unchanged on DataFusion (flowctl's local `sql` step) and on
-- Athena/Trino (the `athena_query` step). Only date_trunc, EXTRACT, CAST, INTERVAL and
-- integer arithmetic are used; DataFusion's date_bin() and Trino's from_unixtime() would each
-- be simpler but exist in one engine only.
--
-- Dialect notes:
-- * created_at is a timestamp with time zone stored in UTC. DataFusion truncates in UTC;
--   Athena truncates in the session time zone (UTC unless changed), so windows match.
-- * window_start is the hour plus the 5-minute step the minute falls in. The step is picked
--   by CASE because DataFusion cannot multiply an INTERVAL by a number (Trino can); the
--   minute's step number is FLOOR(minute / 5) cast to an integer: `/` between integers is
--   integer division in DataFusion and Trino but fractional in Spark, and FLOOR makes all
--   three agree (Spark runs this file in the cdc-gold Glue job).
-- * SUM of decimal(12,2) widens differently (DataFusion decimal(22,2), Trino decimal(38,2)):
--   the CAST keeps the gold column decimal(18,2) on both.
SELECT
    w.window_start,
    w.window_start + INTERVAL '5' MINUTE AS window_end,
    COUNT(*) AS orders,
    CAST(SUM(w.total_amount) AS DECIMAL(18, 2)) AS revenue
FROM (
    SELECT
        date_trunc('hour', o.created_at)
            + CASE CAST(FLOOR(EXTRACT(MINUTE FROM o.created_at) / 5) AS INTEGER)
                WHEN 0 THEN INTERVAL '0' MINUTE
                WHEN 1 THEN INTERVAL '5' MINUTE
                WHEN 2 THEN INTERVAL '10' MINUTE
                WHEN 3 THEN INTERVAL '15' MINUTE
                WHEN 4 THEN INTERVAL '20' MINUTE
                WHEN 5 THEN INTERVAL '25' MINUTE
                WHEN 6 THEN INTERVAL '30' MINUTE
                WHEN 7 THEN INTERVAL '35' MINUTE
                WHEN 8 THEN INTERVAL '40' MINUTE
                WHEN 9 THEN INTERVAL '45' MINUTE
                WHEN 10 THEN INTERVAL '50' MINUTE
                ELSE INTERVAL '55' MINUTE
            END
            AS window_start,
        o.total_amount
    FROM silver.orders_current AS o
    WHERE o.status <> 'cancelled'
) AS w
GROUP BY w.window_start
ORDER BY w.window_start
