"""Jobs: one module per answer a user asks for, each composing the stages and the store.

- `collect` (with `sinks` and `departed`): scan the organization into the table;
- `audit`, `check`, `lookup`, `changes`, `allocate`: the read-side answers;
- `findings`: record and announce what a write run saw;
- `options` and `summary`: what every job takes and what a collection reports.

Adapters (`cli`, `handler`, `fanout`, `live`, `demo`) call jobs; jobs call stages and the store;
stages never call jobs.
"""
