"""The pipeline on Kubeflow Pipelines: kfp v2 components and a pipeline with If/ParallelFor/Collected."""
