"""Per-asset overhead of Sutura in Dagster, against plain ``@asset``, side by side in one run.

    .venv/bin/python benchmarks/dagster_overhead.py [--assets 20] [--rounds 5] [--rows 1000]

Each variant materializes the same chain of ``--assets`` assets (each reads its parent,
a ``--rows``-row DataFrame, and returns a new one) in process, on an ephemeral instance,
with an embedded engine in a temporary SQLite file. Rounds alternate between variants so
machine noise hits them alike; the median run time is reported, and the overhead per
asset is ``(variant - plain) / assets``. Target: below 50 ms per asset.

Variants:
  plain            @asset + FilesystemIOManager (the baseline)
  plain+checks     @asset with the same two checks as Dagster blocking asset checks
                   (the baseline for checks+io: what Dagster itself costs for checks)
  heal             @sutura_asset, no checks + FilesystemIOManager: the success path
                   (no engine call; the value is fingerprinted for its data version)
  heal+io          @sutura_asset + SuturaIOManager: every value versioned and published
  checks+io        @sutura_asset(checks=[not_null, unique]) + SuturaIOManager: write-audit-publish
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

TARGET_MS = 50.0


def build(variant: str, n: int, rows: int):
    import pandas as pd
    from dagster import asset

    from sutura_dagster import not_null, sutura_asset, unique

    frame = pd.DataFrame({"id": range(rows), "amount": [float(i % 97) for i in range(rows)]})
    assets = []
    for i in range(n):
        name = f"a{i:03d}"
        parent = f"a{i - 1:03d}" if i else None

        def compute(*inputs, _i=i):
            base = inputs[0] if inputs else frame
            out = base.copy()
            out["amount"] = out["amount"] + _i
            return out

        if parent:
            fn = _with_input(compute, parent)
        else:
            fn = lambda: compute()  # noqa: E731
        fn.__name__ = name
        if variant == "plain":
            assets.append(asset(name=name)(fn))
        elif variant == "plain+checks":
            assets.append(_plain_checked(name, fn))
        elif variant in ("heal", "heal+io"):
            assets.append(sutura_asset(name=name)(fn))
        else:
            assets.append(sutura_asset(name=name, checks=[not_null("id"), unique("id")])(fn))
    return assets


def _plain_checked(name: str, fn):
    """The same checks written as plain Dagster blocking asset checks in the asset's step."""
    from dagster import AssetCheckResult, AssetCheckSpec, MaterializeResult, asset

    def checked(*args, **kwargs):
        value = fn(*args, **kwargs)
        return MaterializeResult(value=value, check_results=[
            AssetCheckResult(check_name="not_null_id", passed=bool(value["id"].notna().all())),
            AssetCheckResult(check_name="unique_id", passed=not value["id"].duplicated().any()),
        ])  # fmt: skip

    checked.__signature__ = __import__("inspect").signature(fn)
    specs = [AssetCheckSpec(n, asset=name, blocking=True) for n in ("not_null_id", "unique_id")]
    return asset(name=name, check_specs=specs)(checked)


def _with_input(compute, parent: str):
    namespace: dict = {"compute": compute}
    exec(f"def fn({parent}):\n    return compute({parent})\n", namespace)  # noqa: S102 - a named parameter
    return namespace["fn"]


def resources(variant: str, base: Path) -> dict:
    from dagster import FilesystemIOManager

    from sutura_dagster import SuturaIOManager

    store = FilesystemIOManager(base_dir=str(base / variant.replace("+", "_")))
    if variant in ("plain", "plain+checks", "heal"):
        return {"io_manager": store}
    return {"io_manager": SuturaIOManager(io_manager=store)}


def engine_call_costs(rows: int, calls: int = 20) -> tuple[float, float]:
    """Median milliseconds of the two engine calls the IO manager and the audit make."""
    import sutura

    engine = sutura.connect()
    dataset = sutura.Dataset("dagster://bench", "engine_calls")
    check = [sutura.CheckResult(dataset, "not_null", True, field="id")]
    write, read = [], []
    for i in range(calls):
        started = time.perf_counter()
        engine.on_checks(dataset, check, fingerprint=f"bench-{i}", row_count=rows)
        write.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        engine.last_published(dataset)
        read.append((time.perf_counter() - started) * 1000)
    return statistics.median(write), statistics.median(read)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--assets", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--rows", type=int, default=1000)
    args = parser.parse_args(argv)

    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    base = Path(tempfile.mkdtemp(prefix="sutura-bench-"))
    os.environ["SUTURA_DB_URL"] = f"sqlite:///{base / 'sutura.db'}"
    os.environ.pop("SUTURA_URL", None)
    os.environ["DAGSTER_HOME"] = str(base / "dagster_home")
    (base / "dagster_home").mkdir()

    from dagster import DagsterInstance, materialize

    variants = ["plain", "heal", "heal+io", "plain+checks", "checks+io"]
    defs = {v: (build(v, args.assets, args.rows), resources(v, base)) for v in variants}
    times: dict[str, list[float]] = {v: [] for v in variants}
    instance = DagsterInstance.ephemeral()
    quiet = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
    for round_ in range(args.rounds + 1):  # round 0 warms up imports, the engine and the store
        for variant in variants if round_ % 2 else reversed(variants):
            assets, res = defs[variant]
            started = time.perf_counter()
            result = materialize(assets, resources=res, instance=instance, run_config=quiet)
            elapsed = time.perf_counter() - started
            if not result.success:
                print(f"{variant}: run failed", file=sys.stderr)
                return 1
            if round_:
                times[variant].append(elapsed)

    baseline = {"checks+io": "plain+checks"}  # compare like with like; the rest against plain
    plain = statistics.median(times["plain"])
    print(f"Dagster {__import__('dagster').__version__}, {args.assets} chained assets of {args.rows} rows, "
          f"median of {args.rounds} runs each")
    print(f"{'variant':<13} {'run (s)':>9} {'per asset (ms)':>15} {'vs plain (ms/asset)':>20} {'ratio':>6}"
          f"   {'vs its baseline (ms/asset)':>27}")
    worst = 0.0
    for variant in variants:
        median = statistics.median(times[variant])
        per_asset = median / args.assets * 1000
        overhead = (median - plain) / args.assets * 1000
        base = statistics.median(times[baseline.get(variant, "plain")])
        own = (median - base) / args.assets * 1000
        if variant not in ("plain", "plain+checks"):  # the two baselines
            worst = max(worst, own)
        print(f"{variant:<13} {median:>9.3f} {per_asset:>15.1f} {overhead:>20.1f} {median / plain:>6.2f}"
              f"   {own:>20.1f} vs {baseline.get(variant, 'plain')}")
    on_checks, last_published = engine_call_costs(args.rows)
    print(f"of which the engine (embedded SQLite), per call: on_checks {on_checks:.1f} ms "
          f"(one per audited or published value), last_published {last_published:.1f} ms (one per input load)")
    verdict = "OK" if worst < TARGET_MS else "ABOVE TARGET"
    print(f"worst overhead per asset: {worst:.1f} ms (target < {TARGET_MS:.0f} ms): {verdict}")
    return 0 if worst < TARGET_MS else 2


if __name__ == "__main__":
    sys.exit(main())
