"""End-to-end tests: Playwright (Python) in Debian Chromium against real servers."""
