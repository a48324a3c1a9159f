"""Export jobs: deferred exports kept in MongoDB (state) and GridFS (files), run by a task queue."""
