-- A singular test: Sutura runs it against the audited data before orders is published.
select order_id, amount from {{ ref('orders') }} where amount < 0
