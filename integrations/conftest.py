"""End-to-end suites: real brokers, real worker processes. Every test here needs services."""
