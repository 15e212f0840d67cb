-- Revenue per region for one day.
SELECT region, SUM(amount) AS revenue
FROM silver.orders_current
WHERE order_date = DATE '{{ ds }}'
  AND region = '{{ params.region }'
GROUP BY region
