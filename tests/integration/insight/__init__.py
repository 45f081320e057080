"""``portrait insight`` end to end: the command against a real Redis, and its report in a real
headless browser."""
