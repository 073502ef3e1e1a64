"""Windowed page-view counts: `python examples/pageviews.py` serves forever;
`--demo N` produces N page views, waits until they are counted, prints the
tables and stops (what `./dev demo` runs)."""

import random
import sys
import time

import cluster

cluster.init(app="pageviews", broker="kafka://127.0.0.1:9092", store="rocksdb://")


class PageView(cluster.Record):
    page: str
    user: str


views = cluster.topic("page_views", value_type=PageView, partitions=8)
counts = cluster.table("views", default=int).tumbling(10, expires=3600)
totals = cluster.table("totals", default=int)


@cluster.agent(views)
async def count(stream):
    async for view in stream.group_by(PageView.page):
        counts[view.page] += 1
        totals[view.page] += 1


def demo(n: int) -> None:
    pages = ["/home", "/about", "/pricing", "/docs", "/blog"]
    rng = random.Random(7)
    now = time.time()
    events = [(None, PageView(page=rng.choice(pages), user=f"u{rng.randrange(50)}"),
               rng.randrange(8), now - 60 + 60 * i / n) for i in range(n)]
    cluster.start()
    try:
        views.send_many(events)
        cluster.wait_idle(timeout=120)
        print(totals.as_ansitable(title="page views (total)", sort=True))
        print(counts.as_ansitable(title="page views per 10 s window"))
        print("/home now:", counts["/home"].now(), " total:", totals["/home"])
    finally:
        cluster.stop()


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--demo":
        demo(int(sys.argv[2]))
    else:
        cluster.run()
