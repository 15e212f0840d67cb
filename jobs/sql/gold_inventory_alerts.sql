-- Gold: inventory alert level per product that needs attention.
--
-- Source: silver.products_current (one row per live product).
-- Result: product_id, name, stock, alert_level, updated_at — only products at or below the
-- `low` threshold; a product with enough stock has no row (the table is a work list, and
-- "no row" reads as "ok").
--
-- Levels (first match wins):
--   out_of_stock  stock <= 0   (negative stock, an oversell, is out of stock too)
--   critical      stock <= 5
--   low           stock <= 20
--
-- Portable SQL: plain CASE and comparisons, identical on DataFusion and Athena/Trino.
SELECT
    p.product_id,
    p.name,
    p.stock,
    CASE
        WHEN p.stock <= 0 THEN 'out_of_stock'
        WHEN p.stock <= 5 THEN 'critical'
        ELSE 'low'
    END AS alert_level,
    p.updated_at
FROM silver.products_current AS p
WHERE p.stock <= 20
ORDER BY p.stock, p.product_id
