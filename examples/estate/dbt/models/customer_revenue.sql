{{ config(materialized='write_audit_publish',
          meta={'sutura_checks': [sutura.expect_row_count_between(1, none),
                                  sutura.expect_expression('revenue >= 0')]}) }}
select
    customer,
    count(*) as orders,
    sum(amount) as revenue,
    max(batch_date) as batch_date
from {{ ref('stg_orders') }}
where status in ('paid', 'shipped')
group by customer
