{{ config(pre_hook="{{ require_batch(source('raw', 'raw_orders')) }}") }}
-- every column the source sends (a new one flows through), typed rows only
select *
from {{ source('raw', 'raw_orders') }}
where id is not null
