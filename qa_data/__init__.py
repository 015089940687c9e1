"""CLEVRER data: real-layout readers, the CLEVRER-sim generator, questions and slot caches."""
