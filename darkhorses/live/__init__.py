"""Live odds: one cycle of the self-scheduling loop (parse today's cards, skip unchanged ones, write
what changed, non-runners, close races that are off), the loop's lease, and the market lines
read from what the loop captured."""
