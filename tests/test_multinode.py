"""Ingest on a Ray cluster of three nodes (one head, two workers) on this machine.

`ray.cluster_utils.Cluster` starts real raylets, each with its own object store and one
CPU, all on this machine; `facelake ingest --address` drives them as it would a cluster of
machines. The videos land on more than one node (each row says which, `processed_on`),
and the lake holds exactly what the single-node run of the same sample holds.
"""

from __future__ import annotations

from collections import Counter

import pytest
from checksum import table_checksum
from conftest import run_ingest_cli

from etl.lake.lake import Lake
from schemas import FRAMES, VIDEOS

KEYS = {VIDEOS.name: ["video_id"], FRAMES.name: ["video_id", "frame_index"]}


@pytest.fixture(scope="module")
def three_nodes():
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    try:
        for _ in range(2):
            cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        yield cluster
    finally:
        cluster.shutdown()


@pytest.fixture(scope="module")
def cluster_ingest(three_nodes, sample, tmp_path_factory):
    lake = tmp_path_factory.mktemp("lake-3-nodes") / "lake"
    result = run_ingest_cli(sample.root, lake, "--address", three_nodes.address, "--workers", "3", timeout=900)
    return Lake(str(lake)), result.stderr


def test_the_job_used_the_cluster(cluster_ingest, three_nodes):
    _, log = cluster_ingest
    assert f"connecting to the Ray cluster at {three_nodes.address}" in log
    assert len(three_nodes.list_all_nodes()) == 3


def test_videos_were_processed_on_at_least_two_nodes(cluster_ingest, three_nodes):
    lake, _ = cluster_ingest
    videos = lake.read(VIDEOS, columns=["video_id", "processed_on"]).to_pylist()
    nodes = {node.node_id for node in three_nodes.list_all_nodes()}
    per_node = Counter(row["processed_on"]["node_id"] for row in videos)
    assert set(per_node) <= nodes, (per_node, nodes)  # every video names a node of this cluster
    assert len(per_node) >= 2, per_node
    assert sum(per_node.values()) == len(videos)


def test_the_lake_equals_the_single_node_runs(cluster_ingest, clean_ingest):
    lake, _ = cluster_ingest
    single = Lake(str(clean_ingest.lake))
    for spec in (VIDEOS, FRAMES):
        ours, theirs = lake.read(spec), single.read(spec)
        assert ours.num_rows == theirs.num_rows > 0, spec.name
        assert table_checksum(ours, keys=KEYS[spec.name]) == table_checksum(theirs, keys=KEYS[spec.name]), spec.name
