{#- Audited: published only if its tests pass, else held in orders__sutura_quarantine.
    SUTURA_EXAMPLE_ORDERS=raw_orders_bad feeds it rows that fail. -#}
{{ config(materialized='write_audit_publish',
          meta={'sutura_checks': [sutura.expect_expression('amount >= 0')]}) }}
select order_id, customer_id, amount, status
from {{ ref(env_var('SUTURA_EXAMPLE_ORDERS', 'raw_orders')) }}
