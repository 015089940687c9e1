"""CLEVRER's programs and their answers: scene facts (events), the program executor, scoring, the baselines, and
the executor's ceiling from sampled frames (`frame_ceiling.py`)."""
