"""Reports on a dataset and its questions: statistics, question statistics and tables, contact sheets, and the dataset
doctor.
"""
