"""Share tokens checked against the shares and channels the platform published (the dimension tables
of pipeline/platform/): an event whose token names a public share or a distribution channel no
PublicVideoShareCreated or DistributionChannelPublished made known is still curated (the integration
event may come later, and ingest reads no dimension table), and counted in the organization's
`unknown_share` figure (`percus org show`)."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from pipeline.platform.dims import read_latest
from pipeline.store.base import Store


@dataclass(frozen=True)
class KnownShares:
    shares: pa.Array  # public_share_id of every share the organization published
    channels: pa.Array  # distribution_channel_id of every channel

    @classmethod
    def read(cls, store: Store, org: str) -> KnownShares:
        return cls(*(pa.array([row["entity_id"] for row in read_latest(store, table, org)], pa.string())
                     for table in ("shares", "channels")))

    def unknown(self, events: pa.Table) -> int:
        """Curated rows naming a share or a channel not known (a row without either is not counted)."""
        def named_unknown(column: str, known: pa.Array) -> pa.ChunkedArray:
            values = events.column(column)
            return pc.and_(pc.is_valid(values), pc.invert(pc.is_in(values, value_set=known)))

        flags = pc.or_(named_unknown("public_share_id", self.shares),
                       named_unknown("distribution_channel_id", self.channels))
        return int(pc.sum(flags).as_py() or 0)
