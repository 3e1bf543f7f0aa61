-- On PostgreSQL: the pre-hook is a slow statement, long enough for the test to terminate
-- its backend (pg_terminate_backend), which fails the node with "terminating connection
-- due to administrator command": a transient error.
{{ config(enabled=target.type == 'postgres',
          pre_hook="select pg_sleep(2) /* sutura-terminate " ~ target.schema ~ " */") }}
select 1 as id, 'survived' as note
