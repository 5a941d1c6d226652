"""Bare Python: the pipeline's steps called in order in the launcher, the reference of every comparison."""
