"""The pipeline on Dagster: ops in a graph, a DynamicOut fan-out and an optional-output branch."""
