"""How much less does ``sutura-dbt build --changed`` run, and what does the wrapper cost?

On a generated DuckDB project of 500 table models over 20 sources (tests/dbt/projects/generated.py),
all in one run and each command as a fresh subprocess (as a user or an orchestrator runs it):

1. baseline: load the 20 sources; ``sutura-dbt build`` once (starts the change cursor);
   ``dbt source freshness`` and keep its ``sources.json`` as the state of the last build.
2. overhead: an unchanged full build, plain ``dbt build`` vs ``sutura-dbt build`` (lineage,
   fingerprints, healing, source observation), alternated ``--repeat`` times; the median of each.
3. one of the 20 sources gets new content, then, each on that same change:
   ``dbt build --select source_status:fresher+ --state`` (after ``dbt source freshness``),
   ``sutura-dbt build --changed``, and a full ``dbt build``: nodes executed and wall time.

    .venv/bin/python benchmarks/dbt_changed.py [--models 500] [--sources 20] [--repeat 2] [--keep DIR]

Prints the figures and their ratios. Takes minutes (a full build of 500 models is most of it).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.dbt.projects.generated import generate_project, load_source  # noqa: E402

BIN = Path(sys.executable).parent


def rows(index: int, version: int = 1) -> list[tuple[int, float]]:
    return [(k, float(k * version + index)) for k in range(200)]


class Bench:
    def __init__(self, workdir: Path, models: int, sources: int) -> None:
        self.project = generate_project(workdir, sources=sources, models=models, freshness=True)
        self.state = workdir / "state"
        self.env = {
            key: value for key, value in os.environ.items() if not key.startswith(("DBT_", "SUTURA", "OPENLINEAGE"))
        }
        self.env.update(
            self.project.env()
            | {
                "SUTURA_DB_URL": f"sqlite:///{workdir / 'sutura.db'}",
                "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
                "DBT_USE_COLORS": "false",
                "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            }
        )
        self.dirs = ["--project-dir", str(self.project.path), "--profiles-dir", str(self.project.path)]

    def run(self, argv: list[str]) -> tuple[float, str, int]:
        started = time.perf_counter()
        done = subprocess.run(argv, env=self.env, cwd=self.project.path.parent, capture_output=True, text=True)
        wall = time.perf_counter() - started
        if done.returncode not in (0,):
            sys.stderr.write(done.stdout[-3000:] + done.stderr[-3000:])
            raise SystemExit(f"{' '.join(argv[:3])} failed with {done.returncode}")
        return wall, done.stdout, done.returncode

    def executed(self) -> int:
        results = json.loads((self.project.path / "target" / "run_results.json").read_text())
        return sum(1 for r in results["results"] if r["status"] != "skipped" and r["unique_id"].startswith("model."))

    def dbt(self, *args: str) -> tuple[float, int]:
        wall, _, _ = self.run([str(BIN / "dbt"), *args, *self.dirs])
        return wall, self.executed() if args[0] == "build" else 0

    def sutura(self, *args: str) -> tuple[float, int, dict]:
        wall, out, _ = self.run([str(BIN / "sutura-dbt"), *args, *self.dirs, "--json"])
        summary = json.loads(out.strip().splitlines()[-1])
        nodes = {n for a in summary["attempts"] for n in a["nodes"] if n.startswith("model.")}
        return wall, len(nodes), summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=500)
    parser.add_argument("--sources", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--changed-source", type=int, default=7)
    parser.add_argument("--keep", type=Path, help="work in this directory and keep it")
    args = parser.parse_args()

    workdir = args.keep or Path(tempfile.mkdtemp(prefix="sutura-dbt-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        b = Bench(workdir, args.models, args.sources)
        print(f"project: {args.models} models over {args.sources} sources in {b.project.path}")
        for i in range(args.sources):
            load_source(b.project, i, rows(i), loaded_at=True)
        wall, n, _ = b.sutura("build")
        print(f"baseline sutura-dbt build: {n} models in {wall:.1f}s")
        b.dbt("source", "freshness")
        b.state.mkdir(exist_ok=True)
        shutil.copy(b.project.path / "target" / "sources.json", b.state / "sources.json")
        shutil.copy(b.project.path / "target" / "manifest.json", b.state / "manifest.json")

        plain, wrapped, own = [], [], []
        for _ in range(args.repeat):
            plain.append(b.dbt("build")[0])
            wall, _, summary = b.sutura("build")
            wrapped.append(wall)
            t = summary["timings"]
            own.append(sum(v for k, v in t.items() if k not in ("parse", "dbt")))
            print(f"  sutura-dbt build timings (s): {t}")
        p, w, o = statistics.median(plain), statistics.median(wrapped), statistics.median(own)
        print(
            f"unchanged full build: dbt build {p:.1f}s (runs {', '.join(f'{x:.1f}' for x in plain)}), "
            f"sutura-dbt build {w:.1f}s (runs {', '.join(f'{x:.1f}' for x in wrapped)}): wall overhead {100 * (w - p) / p:+.1f}%; "
            f"the wrapper's own work (lineage, fingerprints, checks, observation, cursor) {o:.1f}s = {100 * o / p:.1f}% of dbt build"
        )

        changed = args.changed_source
        time.sleep(1.1)  # a later loaded_at than the saved freshness state
        load_source(b.project, changed, rows(changed, version=2), loaded_at=True)
        expected = len(b.project.downstream(f"src_{changed}"))
        fresh_wall, _ = b.dbt("source", "freshness")
        fresher_build, fresher_n = b.dbt("build", "--select", "source_status:fresher+", "--state", str(b.state))
        fresher = fresh_wall + fresher_build
        sut_wall, sut_n, summary = b.sutura("build", "--changed")
        full_wall, full_n = b.dbt("build")
        print(f"after src_{changed} changed ({expected} models downstream of it):")
        print(f"  {'command':52} {'models run':>10} {'wall s':>8}")
        print(f"  {'sutura-dbt build --changed':52} {sut_n:>10} {sut_wall:>8.1f}")
        print(f"  {'dbt source freshness + build source_status:fresher+':52} {fresher_n:>10} {fresher:>8.1f}")
        print(f"  {'dbt build (full)':52} {full_n:>10} {full_wall:>8.1f}")
        print(
            f"ratios: sutura --changed runs {sut_n / full_n:.3f} of a full build's models in "
            f"{sut_wall / full_wall:.2f}x its time; fresher+ {fresher_n / full_n:.3f} in {fresher / full_wall:.2f}x; "
            f"sutura selected {summary.get('selected')}"
        )
        assert sut_n == expected, (sut_n, expected)
    finally:
        if args.keep is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
