"""A run directory's files: their names (files.py), the checkpoints, the lock, the JSONL records and the metric
writers."""
