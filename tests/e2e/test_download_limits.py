"""max_downloads: a read from byte 0 takes one download atomically; later ranges take none."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

from tests.harness.cluster import Cluster, http


def test_max_downloads_one_with_concurrent_requests(cluster: Cluster) -> None:
    data = os.urandom(6 * 1024 * 1024)
    file_id = cluster.upload(data, max_downloads="1")["id"]
    url = f"{cluster.url}/download/{file_id}"
    # HEAD and a range that starts later take no download.
    assert http("HEAD", url).status == 200
    tail = http("GET", url, headers={"Range": "bytes=100-"})
    assert tail.status == 206 and tail.body == data[100:]
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: http("GET", url), range(4)))
    statuses = sorted(a.status for a in answers)
    assert statuses == [200, 410, 410, 410], statuses
    assert next(a for a in answers if a.status == 200).body == data
    assert "maximum number of downloads" in http("GET", url).json()["error"]
    assert cluster.file_info(file_id)["downloads"] == 1


def test_unlimited_file_counts_nothing_against_it(cluster: Cluster) -> None:
    data = b"x" * 1000
    file_id = cluster.upload(data)["id"]
    for _ in range(3):
        assert cluster.download(file_id).body == data
