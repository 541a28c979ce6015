"""The sites we fetch from: which we may reach (netguard), how hard (limits, limiter),
when to stop (breaker), and as whom (cookies, cookie_keeper)."""
