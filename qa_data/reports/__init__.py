"""Reports on a dataset and its questions: statistics, question statistics and tables, contact sheets, and the dataset
doctor; the command lines of the doctor and of the executor's ceiling (`cli.py`).
"""
