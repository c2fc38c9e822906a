"""Storage: one Parquet row per trial (schema.py: its one schema; rows.py: its one writer;
results.py: paths and reads), trials' temporary workdirs (workdirs.py), and the lease that keeps
two drivers off one grid (lease.py)."""
