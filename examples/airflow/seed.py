"""Seed the example warehouse's ``raw_orders``: ``python seed.py good`` or ``python seed.py bad``."""

import os
import sys

import duckdb

WAREHOUSE = os.path.abspath(os.environ.get("SUTURA_EXAMPLE_WAREHOUSE", "warehouse.duckdb"))
BATCHES = {
    "good": [(1, "ann", "new", 10.0), (2, "bob", "paid", 20.0)],
    "bad": [(3, "cat", "new", 5.0), (3, "dan", "lost", -5.0)],
}

con = duckdb.connect(WAREHOUSE)
con.execute("CREATE OR REPLACE TABLE raw_orders(id INTEGER, customer VARCHAR, status VARCHAR, amount DOUBLE)")
con.executemany("INSERT INTO raw_orders VALUES (?, ?, ?, ?)", BATCHES[sys.argv[1] if len(sys.argv) > 1 else "good"])
con.close()
print(f"raw_orders in {WAREHOUSE}: {sys.argv[1] if len(sys.argv) > 1 else 'good'} batch")
