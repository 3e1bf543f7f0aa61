{#- An audited append-only model: every batch that arrives is appended. -#}
{{ config(incremental_strategy='append') }}

select event_id, batch, amount
from {{ ref('raw_events') }}
where batch <= {{ env_var('SUTURA_IT_EVENTS_BATCH', '2') }}
{% if sutura.is_incremental() %}
  and batch > (select max(batch) from {{ this }})
{% endif %}
