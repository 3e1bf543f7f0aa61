-- Reads a table of another DuckDB file. While another process writes that file it holds
-- its lock, and attaching it fails with "Could not set lock on file": a transient error.
{{ config(enabled=target.type == 'duckdb',
          pre_hook="attach if not exists '" ~ env_var('SUTURA_HEAL_FEED_PATH', 'feed.duckdb') ~ "' as feed (read_only)") }}
select id, amount from feed.main.payments
