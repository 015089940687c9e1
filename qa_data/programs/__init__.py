"""CLEVRER's programs and their answers: scene facts (events), the program executor, scoring and the baselines."""
