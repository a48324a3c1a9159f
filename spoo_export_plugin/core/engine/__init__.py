"""How the clicks are counted: the aggregation pipeline, the MongoDB store and the in-process worker."""
