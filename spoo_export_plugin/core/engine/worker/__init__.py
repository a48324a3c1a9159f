"""The in-process executor: the row stages' expressions over BSON values, then the grouping in Python."""
