"""30 concurrent browser sessions x 20 page views against the real dashboard on 127.0.0.1.

Each session is a headless Chromium context (Debian's chromium, driven by Playwright) that
signs in as a demo user and then moves between its pages through the sidebar navigation.
A page view is timed from the click until the page's title is shown and the app is idle.
Prints errors (exceptions shown, timeouts), p50 and p95 page time, and the server's memory
before and after. Bounded: a fixed number of views, each with a timeout; loopback only.

    python benchmarks/bench_sessions.py [--warehouse bench_out/demo.duckdb] [--sessions 30] [--views 20]
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from playwright.async_api import async_playwright  # noqa: E402

from benchmarks.sessions_common import USERS, main, print_report, rss_mb  # noqa: E402
from tests.servers import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

async def wait_idle(page, timeout_ms: int) -> None:
    await page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=timeout_ms)


async def one_session(browser, url: str, user: str, password: str, views: int, times: list, errors: list) -> None:
    ctx = await browser.new_context(viewport={"width": 1400, "height": 900})
    page = await ctx.new_page()
    try:
        await page.goto(url, timeout=60_000)
        await page.get_by_label("Username").fill(user)
        await page.get_by_role("textbox", name="Password").fill(password)
        await page.get_by_role("button", name="Sign in").click()
        await page.get_by_role("heading", name="Overview").first.wait_for(timeout=60_000)
        titles = USERS[user]
        for i in range(views):
            title = titles[i % len(titles)]
            t0 = time.perf_counter()
            try:
                await page.get_by_role("link", name=title).first.click(timeout=30_000)
                await page.get_by_role("heading", name=title).first.wait_for(timeout=30_000)
                await wait_idle(page, 30_000)
                times.append(time.perf_counter() - t0)
                if await page.locator('[data-testid="stException"]').count():
                    errors.append(f"{user}: exception shown on {title}")
            except Exception as exc:  # noqa: BLE001 - a benchmark counts failures, it does not stop
                errors.append(f"{user}: {title}: {type(exc).__name__}: {str(exc)[:120]}")
    except Exception as exc:  # noqa: BLE001
        errors.append(f"{user}: sign-in: {type(exc).__name__}: {str(exc)[:120]}")
    finally:
        await ctx.close()


async def run(url: str, pid: int, sessions: int, views: int, password: str) -> None:
    times: list[float] = []
    errors: list[str] = []
    users = list(USERS)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        # Warm the server once (first script run, caches) so "before" is the steady state.
        await one_session(browser, url, "demo-analyst", password, 2, [], [])
        before = rss_mb(pid)
        t0 = time.perf_counter()
        await asyncio.gather(*(one_session(browser, url, users[i % len(users)], password, views, times, errors)
                               for i in range(sessions)))
        wall = time.perf_counter() - t0
        after = rss_mb(pid)
        await browser.close()
    print_report(sessions, views, times, errors, wall)
    print(f"server RSS before={before:.0f} MB after={after:.0f} MB")


if __name__ == "__main__":
    main(__doc__, run)
