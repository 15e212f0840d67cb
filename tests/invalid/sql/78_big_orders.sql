-- Orders above a threshold, per day of the run.
SELECT order_id, customer_id, total_amount, '{{ ds }}' AS run_day
FROM silver.orders_current
WHERE total_amount >= {{ params.min_total }}
