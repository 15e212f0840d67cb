-- Refunds of the day, next to the number of big orders the upstream step wrote.
SELECT order_id, refund_amount, {{ outputs.gold_big_orders.rows }} AS big_orders
FROM silver.refunds_current
WHERE CAST(refunded_at AS DATE) = DATE '{{ ds }}'
