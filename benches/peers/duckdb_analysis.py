"""Per-variant means and variances of an experiment, computed by DuckDB from the Parquet files
of `rampart export --format parquet`, timed, and compared with rampart's own figures.

The query follows rampart's evidence rules: a unit belongs to the variant of its exposures for
the experiment; an outcome event counts for a unit when it comes after the unit's first exposure
in the log (larger `seq`); `conversion` (binary) is 1 when the unit has a `purchase`, `revenue`
(sum) is the sum of its purchases' values, 0 without one. Variances are sample variances
(divisor n - 1), as rampart reports them.

Usage: python3 duckdb_analysis.py EXPORT_DIR RAMPART_JSON [EXPERIMENT]
(`pip install duckdb`; RAMPART_JSON is written by `analysis_10m report`.)
Exits non-zero when a figure differs from rampart's by more than 1e-9 relative.
"""

import json
import sys
import time

import duckdb

QUERY = """
WITH exposed AS (
    SELECT unit, any_value(variant) AS variant, min(seq) AS first_seq,
           count(DISTINCT variant) AS variants
    FROM read_parquet('{dir}/exposures.parquet')
    WHERE entity_kind = 'experiment' AND entity = '{experiment}' AND reason = 'experiment'
    GROUP BY unit
),
purchases AS (
    SELECT x.unit, sum(e.value) AS revenue
    FROM read_parquet('{dir}/events.parquet') e
    JOIN exposed x ON e.unit = x.unit AND e.seq > x.first_seq
    WHERE e.type = 'purchase'
    GROUP BY x.unit
),
per_unit AS (
    SELECT x.variant, x.variants,
           CASE WHEN p.unit IS NULL THEN 0.0 ELSE 1.0 END AS conversion,
           coalesce(p.revenue, 0.0) AS revenue
    FROM exposed x LEFT JOIN purchases p ON p.unit = x.unit
)
SELECT variant, count(*) AS n, max(variants) AS max_variants,
       avg(conversion), var_samp(conversion), avg(revenue), var_samp(revenue)
FROM per_unit GROUP BY variant ORDER BY variant
"""


def relative(a, b):
    if a == b:
        return 0.0
    return abs(a - b) / max(abs(a), abs(b))


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    out, rampart_json = sys.argv[1], sys.argv[2]
    experiment = sys.argv[3] if len(sys.argv) > 3 else "checkout-test"
    with open(rampart_json) as f:
        rampart = json.load(f)

    con = duckdb.connect()
    sql = QUERY.format(dir=out, experiment=experiment)
    runs, cpu = [], []
    for _ in range(3):
        start, cpu_start = time.perf_counter(), time.process_time()
        rows = con.execute(sql).fetchall()
        runs.append((time.perf_counter() - start) * 1e3)
        cpu.append((time.process_time() - cpu_start) * 1e3)
    threads = con.execute("SELECT current_setting('threads')").fetchone()[0]
    print(f"duckdb {duckdb.__version__}: per-variant means and variances from Parquet "
          f"({threads} threads)")
    print("  wall ms per run: " + ", ".join(f"{r:.0f}" for r in runs)
          + f" (median {sorted(runs)[1]:.0f}); CPU ms: " + ", ".join(f"{c:.0f}" for c in cpu)
          + f" (median {sorted(cpu)[1]:.0f})")

    worst = 0.0
    print(f"  {'variant':<8} {'metric':<11} {'n':>9} {'mean duckdb':>22} {'mean rampart':>22}"
          f" {'var duckdb':>22} {'var rampart':>22} {'max rel diff':>12}")
    for variant, n, max_variants, conv_mean, conv_var, rev_mean, rev_var in rows:
        if max_variants != 1:
            sys.exit(f"a unit of {variant} was exposed to several variants")
        theirs = rampart["variants"][variant]
        for metric, mean, var in (("conversion", conv_mean, conv_var),
                                  ("revenue", rev_mean, rev_var)):
            r = theirs["metrics"][metric]
            if r["n"] != n or theirs["units"] != n:
                sys.exit(f"{variant} {metric}: duckdb n={n}, rampart n={r['n']}")
            diff = max(relative(mean, r["mean"]), relative(var, r["variance"]))
            worst = max(worst, diff)
            print(f"  {variant:<8} {metric:<11} {n:>9} {mean:>22.15g} {r['mean']:>22.15g}"
                  f" {var:>22.15g} {r['variance']:>22.15g} {diff:>12.1e}")
    print(f"  largest relative difference: {worst:.1e}")
    if worst > 1e-9:
        sys.exit("the figures differ by more than 1e-9 relative")


if __name__ == "__main__":
    main()
