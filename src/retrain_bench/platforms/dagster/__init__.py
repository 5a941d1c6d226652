"""Dagster as a platform: a graph of ops run with ``execute_in_process``, in the platform's own environment."""
