-- "Has the author blocked the viewer?" (the moments' visibility rule, and
-- anything else that asks who blocked a user) looked every row of `blocks`
-- up by its second column: 22–26 ms a check at 200k rows without this index
-- (docs/benchmarks.md, "Moments").
CREATE INDEX ix_blocks_blocked ON blocks (blocked_user_id, user_id);
