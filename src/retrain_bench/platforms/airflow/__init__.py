"""Airflow 3 on the local target: ``dag.test()`` on a metadata database copied for each round."""
