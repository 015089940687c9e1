"""The jobs that compose the stages: the main job, `make reproduce`, and their results and claims pages."""
