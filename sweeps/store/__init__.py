"""Storage: one Parquet row per trial, and the lease that keeps two drivers off one grid."""
