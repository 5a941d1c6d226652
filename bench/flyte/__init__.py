"""The pipeline on Flyte: flytekit tasks and a ``@dynamic`` adaptive branch."""
