"""Prefect 3 on the local target: flows run in the launcher against one server started for the session."""
