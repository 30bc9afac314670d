"""Reading kept runs: their records, the report's tables and curves, paired comparisons of seeds."""
