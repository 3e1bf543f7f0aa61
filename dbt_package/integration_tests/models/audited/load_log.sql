{#- An audited model with a freshness check. -#}
{{ config(meta={'sutura_checks': [sutura.expect_fresh('loaded_at', '1 day'),
                                  sutura.expect_expression('load_id > 0')]}) }}

select 1 as load_id, cast(now() at time zone 'UTC' as timestamp) as loaded_at
