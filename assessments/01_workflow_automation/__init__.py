"""Assessment 1: the lead-intent workflow. See README.md in this folder."""
