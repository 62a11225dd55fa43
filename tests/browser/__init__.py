"""The browser suite: the example app in Debian's Chromium, driven by Playwright.

A package so that the Playwright driver is package-scoped: Playwright's sync API
marks an asyncio loop as running in the main thread while it is alive, so it must
be stopped before the rest of the test run (which runs its own loops) goes on.
"""
