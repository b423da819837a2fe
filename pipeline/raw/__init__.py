"""The raw stage: the writer drains the queue into gzipped NDJSON objects (`rawfile` is their format);
the reader turns them back into checked rows for the compactor."""
