"""The pipeline on Prefect 3: a flow of tasks (``bench/prefect/flow.py``)."""
