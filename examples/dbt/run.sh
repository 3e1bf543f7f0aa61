#!/bin/sh
# Build the example with sutura-dbt, twice: the second build has nothing to do.
# Usage: sh examples/dbt/run.sh            (from anywhere; needs the sutura[dbt] install)
set -eu
cd "$(dirname "$0")"
export SUTURA_EXAMPLE_DUCKDB="${SUTURA_EXAMPLE_DUCKDB:-$PWD/example.duckdb}"
export SUTURA_DB_URL="${SUTURA_DB_URL:-sqlite:///$PWD/.sutura/sutura.db}"
export DBT_PROFILES_DIR="$PWD"
mkdir -p .sutura
sutura-dbt deps
sutura-dbt build --changed "$@"
sutura-dbt build --changed "$@"
