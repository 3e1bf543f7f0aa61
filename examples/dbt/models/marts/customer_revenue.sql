select c.customer_id, c.name, count(o.order_id) as orders, coalesce(sum(o.amount), 0) as revenue
from {{ ref('stg_customers') }} c
left join {{ ref('orders') }} o on o.customer_id = c.customer_id and o.status <> 'returned'
group by 1, 2
