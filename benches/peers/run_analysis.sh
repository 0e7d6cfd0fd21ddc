#!/usr/bin/env bash
# The 10-million-unit analysis benchmark end to end (docs/benchmarks.md has the figures):
# generate the log into a rampart data directory, time rampart's report, export it to Parquet
# (and CSV, for comparison), time DuckDB on the Parquet files and compare the figures.
# Needs: `pip install duckdb`, and about 6 GB free in benches/peers/data (git-ignored).
# UNITS=1000000 bash run_analysis.sh for a quicker run.
set -euo pipefail
cd "$(dirname "$0")"
units=${UNITS:-10000000}
data=data/log-$units
root=../..
timed() { /usr/bin/time -f "  wall %e s, user %U s, sys %S s, peak RSS %M KiB" "$@"; }

cargo build --release --bin analysis_10m
cargo build --release --manifest-path $root/Cargo.toml -p rampart-cli
rampart=${CARGO_TARGET_DIR:-$root/target}/release/rampart
analysis=${CARGO_TARGET_DIR:-target}/release/analysis_10m

if [ ! -f "$data/rampart.db" ]; then
  echo "== generate $units units"
  timed "$analysis" generate "$data" "$units"
fi
echo "== rampart: open, replay, fold, analyze"
timed "$analysis" report "$data" "$data/rampart.json"
for format in parquet csv; do
  echo "== rampart export --format $format"
  rm -rf "$data/export-$format"
  timed "$rampart" export --data-dir "$data" --out "$data/export-$format" --format $format
  du -sh "$data/export-$format"/*
done
echo "== duckdb on the Parquet files"
timed python3 duckdb_analysis.py "$data/export-parquet" "$data/rampart.json"
