"""dbt projects the sutura-dbt runner tests build: generated on the fly, never committed."""
