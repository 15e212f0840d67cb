-- Orders over the limit in the last day.
SELECT order_id, total_amount
FROM silver.orders_current
WHERE total_amount > {{ params.max_amount }}
  AND updated_at >= DATE '{{ ds }}' - INTERVAL '1' DAY
