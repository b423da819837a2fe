"""The curated stage: the compactor turns raw objects into one Parquet file per organization and day
(`schema`, its columns walked from the canonical models by `fields`) and records what it committed
(`commits`), which rollups, webhooks and DSAR read."""
