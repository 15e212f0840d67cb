-- Gold: activity per user, keyed by a pseudonym instead of the user id.
--
-- Sources: silver.users_history (SCD2; the current version of each user) and
-- silver.orders_current.
-- Result: user_key, country, orders, total_spent, last_order_at — one row per current user,
-- users without orders included (orders 0, total_spent 0, last_order_at null). Cancelled
-- orders are not spending and are left out.
--
-- Privacy: user_key is the user id as text here; the step pseudonymises it before anything is
-- written, with the salt from the environment:
--     local: { type: sql, file: jobs/sql/gold_user_activity.sql, target: gold.user_activity,
--              pseudonymize: [user_key], salt_env: FLOWCTL_PSEUDONYM_SALT }
-- giving lower(hex(sha256(user_id || '::' || salt))). On Athena the same digest is
--     lower(to_hex(sha256(to_utf8(CAST(u.user_id AS VARCHAR) || '::' || '<salt>'))))
-- (Trino's to_hex is upper case; the salt must come from the job's secret, not this file).
-- Keeping the hash out of this file keeps the salt out of SQL text and the file portable.
--
-- Portable SQL: LEFT JOIN, COALESCE, CAST and aggregates, identical on DataFusion and Trino.
SELECT
    CAST(u.user_id AS VARCHAR(20)) AS user_key,
    u.country,
    COUNT(o.order_id) AS orders,
    CAST(COALESCE(SUM(o.total_amount), 0) AS DECIMAL(18, 2)) AS total_spent,
    MAX(o.created_at) AS last_order_at
FROM silver.users_history AS u
LEFT JOIN silver.orders_current AS o
    ON o.user_id = u.user_id
    AND o.status <> 'cancelled'
WHERE u.is_current
GROUP BY u.user_id, u.country
ORDER BY u.user_id
