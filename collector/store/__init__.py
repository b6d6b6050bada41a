"""Stage 7 — the store: one DynamoDB table holding several kinds of item.

- `table`: schema, creation, the checks and TTL;
- `attributes`: AttributeValue helpers every codec shares;
- one module per item kind or family, each owning its key prefix, its model <-> item codec and
  the few calls that touch it: `vpcs`, `reservations` (and the allocation counter), `leases`,
  `dispatch` (fan-out parts), `connectivity` (targets and TGW route tables), `changes`,
  `findings`;
- `registry`: the only place that knows every prefix; readers ask it for the kinds they want;
- `reader` (paged and segmented reads, fast decoding) and `writer` (batching, retries, the
  watermark).

Nothing here is re-exported: import from the module that owns the name.
"""
