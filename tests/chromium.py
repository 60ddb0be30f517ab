"""Debian's chromium for Playwright, as the dashboard tests and the screenshot script launch
it: the system binary (browser downloads fail here) with the flags a closed, headless
machine needs (no background networking, no component updates, no sandbox as root)."""

from __future__ import annotations

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def launch(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
