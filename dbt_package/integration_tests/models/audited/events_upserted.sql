{#- An audited incremental model: each run adds the batches that arrived since the last
    one, replacing events by event_id (delete+insert). -#}
{{ config(incremental_strategy='delete+insert', unique_key='event_id') }}

with arrived as (
    select event_id, batch, amount
    from {{ ref('raw_events') }}
    where batch <= {{ env_var('SUTURA_IT_EVENTS_BATCH', '2') }}
    {% if sutura.is_incremental() %}
      and batch > (select max(batch) from {{ this }})
    {% endif %}
),

latest as (
    select event_id, batch, amount,
           row_number() over (partition by event_id order by batch desc) as newest
    from arrived
)

select event_id, batch, amount from latest where newest = 1
