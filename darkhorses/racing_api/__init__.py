"""The Racing API: the one HTTP client, the account's rate limits shared by every worker, the
bookmakers it names, and its strings (prices, numbers, times) read as values."""
