"""What every other package builds on, with no domain of its own: settings, the UK clock, the
shared store (Redis or memory), atomic files, log-safe text, and every task's name and queue."""
