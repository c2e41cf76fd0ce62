"""Shape baselines: the files, checking them (in worker processes, sharded), re-running the trace
a baseline describes, the project rules for its code, and the diff of two traces."""
