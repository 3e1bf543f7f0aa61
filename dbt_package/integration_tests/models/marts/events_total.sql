{#- Downstream of an audited incremental model. -#}
select count(*) as event_count, cast(sum(amount) as numeric(12, 2)) as total_amount
from {{ ref('events_upserted') }}
