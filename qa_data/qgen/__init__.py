"""CLEVRER-sim question generation: templates in CLEVRER's wording and DSL, balanced sampling,
and the writer of `questions/{train,validation,test}.json`."""
