{#- A whole-table audited model (materialized by the folder's +materialized). -#}
{{ config(meta={'sutura_checks': [sutura.expect_row_count_between(1, env_var('SUTURA_IT_MAX_ORDERS', '100') | int)]}) }}

select order_id, customer_id, amount, status
from {{ ref(env_var('SUTURA_IT_ORDERS_SEED', 'raw_orders')) }}
