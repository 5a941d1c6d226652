"""The folder Airflow parses as its DAG bundle (``[core] dags_folder``)."""
