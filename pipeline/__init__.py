"""Queue, store and query backends (local and AWS), the writer, compactor, rollups and jobs."""
