"""What the answer is: the report, its time buckets, the raw click rows and the file names. Imports no engine."""
