"""What was asked: query parameters, dates, time zones and the grouping dimensions. Imports no engine."""
