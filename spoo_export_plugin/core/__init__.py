"""The query core: request parsing, access rules, pipelines, store, report, time buckets. No web framework."""
