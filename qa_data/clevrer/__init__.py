"""CLEVRER's files as typed records: the dataset layout, annotations, instance masks, videos, question files, the
vocabulary, preprocessing and torch datasets of clips.
"""
