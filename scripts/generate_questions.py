#!/usr/bin/env python
"""Generate CLEVRER questions (all four types) for a CLEVRER-sim dataset; see qa_data/qgen/."""
import sys

from qa_data.qgen.cli import main

if __name__ == "__main__":
    sys.exit(main())
