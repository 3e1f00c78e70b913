"""The grader's kit: run the black-box contract suite and print a grade report."""
