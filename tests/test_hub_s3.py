"""The hub against an S3-compatible server on 127.0.0.1 (moto in server mode, started and
stopped here): publish, list, download, and loads straight from s3://."""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid

import numpy as np
import pytest

import madatasets
from cli_runner import run_cli
from conftest import random_store
from madatasets.errors import ChecksumError
from madatasets.hub import download, publish

pytest.importorskip("moto.server")
boto3 = pytest.importorskip("boto3")

ID = "mpe-spread-3/random-v1"


@pytest.fixture(scope="module")
def s3_endpoint():
    from moto.server import ThreadedMotoServer
    logging.getLogger("werkzeug").setLevel(logging.ERROR)       # no request log on stderr
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def bucket(s3_endpoint, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("MADATA_BACKOFF", "0.01")
    monkeypatch.delenv("MADATA_REMOTE", raising=False)
    name = f"madata-{uuid.uuid4().hex[:12]}"
    client = boto3.client("s3")
    client.create_bucket(Bucket=name)
    return name, client


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    from pathlib import Path
    from collectors.collect import collect
    root = Path(random_store(tmp_path_factory))
    collect("mpe-spread-3", "random", steps=120, seed=1, store=root, version=2, progress=False)
    return root




def same_arrays(a, b):
    assert a.card["checksums"] == b.card["checksums"]
    for name, array in a.arrays.items():
        np.testing.assert_array_equal(array, b.arrays[name])


def test_publish_list_download_and_load_from_s3(source, bucket, tmp_path, capsys):
    name, client = bucket
    url = f"s3://{name}/datasets"
    code, out, err = run_cli(capsys, "publish", ID, "--to", url, "--store", str(source))
    assert code == 0, err
    assert out.startswith(f"published {ID}@") and "22 files uploaded" in out
    keys = {o["Key"] for o in client.list_objects_v2(Bucket=name)["Contents"]}
    assert "datasets/index.json" in keys and len(keys) == 23
    code, out, _ = run_cli(capsys, "publish", ID, "--to", url, "--store", str(source))
    assert "already published" in out

    code, out, _ = run_cli(capsys, "list", "--remote", url, "--store", str(tmp_path / "local"))
    assert code == 0 and out.splitlines()[1].startswith(f"{ID}@") and out.splitlines()[1].split()[-1] == "no"

    code, out, err = run_cli(capsys, "download", ID, "--remote", url, "--store", str(tmp_path / "local"), "--quiet")
    assert code == 0, err
    assert out.startswith(f"downloaded {ID}@") and f"from {url}" in out
    same_arrays(madatasets.load(ID, tmp_path / "local"), madatasets.load(ID, source))

    # Read-only, straight from the bucket: nothing is written locally.
    remote = madatasets.load(ID, store=url)
    same_arrays(remote, madatasets.load(ID, source))
    assert remote.verified_checksums == remote.card["checksums"]
    assert madatasets.list_datasets(url) == [ID]
    code, out, _ = run_cli(capsys, "verify", ID, "--store", url)
    assert code == 0 and f"ok {ID}" in out
    code, out, _ = run_cli(capsys, "list", "--store", url)
    assert code == 0 and ID in out


def test_a_damaged_object_is_refused_on_load_and_download(source, bucket, tmp_path):
    name, client = bucket
    url = f"s3://{name}"
    publish(ID, url, source)
    entry = json.loads(client.get_object(Bucket=name, Key="index.json")["Body"].read())["datasets"][0]
    largest = max(entry["files"], key=lambda f: f["size"])
    key = f"{entry['path']}/{largest['path']}"
    data = bytearray(client.get_object(Bucket=name, Key=key)["Body"].read())
    data[len(data) // 2] ^= 0x01
    client.put_object(Bucket=name, Key=key, Body=bytes(data))
    with pytest.raises(ChecksumError, match="sha256 mismatch"):
        madatasets.load(ID, store=url)
    with pytest.raises(ChecksumError, match="nothing was installed"):
        download(ID, tmp_path / "s", [url], progress=False)
    assert madatasets.Store(tmp_path / "s").list() == []


def test_a_missing_bucket_is_one_line(bucket, tmp_path, capsys):
    code, _, err = run_cli(capsys, "download", ID, "--remote", "s3://no-such-bucket-here", "--store", str(tmp_path))
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "does not exist" in lines[0] and "Traceback" not in err


def test_two_concurrent_publishes_to_s3_keep_both_entries(source, bucket, monkeypatch):
    import madatasets.hub.index as index_module
    import madatasets.hub.remote_s3 as remote_module
    name, client = bucket
    original = index_module.dump_index

    def slow_dump(index):
        time.sleep(0.3)             # both read the index before either writes
        return original(index)
    monkeypatch.setattr(remote_module, "dump_index", slow_dump)
    errors = []

    def run(dataset_id):
        try:
            publish(dataset_id, f"s3://{name}/shared", source)
        except Exception as error:  # noqa: BLE001  (reported below)
            errors.append(error)
    threads = [threading.Thread(target=run, args=(i,)) for i in (ID, "mpe-spread-3/random-v2")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    index = json.loads(client.get_object(Bucket=name, Key="shared/index.json")["Body"].read())
    assert sorted(e["id"] for e in index["datasets"]) == [ID, "mpe-spread-3/random-v2"]


def test_a_partial_file_is_resumed_with_a_ranged_get(source, bucket, tmp_path):
    """A .part left by an interrupted download holds the first half of a file: the next
    download asks S3 only for the rest."""
    name, client = bucket
    url = f"s3://{name}"
    publish(ID, url, source)
    entry = json.loads(client.get_object(Bucket=name, Key="index.json")["Body"].read())["datasets"][0]
    largest = max(entry["files"], key=lambda f: f["size"])
    data = client.get_object(Bucket=name, Key=f"{entry['path']}/{largest['path']}")["Body"].read()
    madatasets.Store(tmp_path / "s", create=True)
    madatasets.Store(tmp_path / "t", create=True)
    part = tmp_path / "s" / ".downloads" / entry["card_sha256"] / (largest["path"] + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(data[: len(data) // 2])
    assert download(ID, tmp_path / "s", [url], progress=False).installed
    same_arrays(madatasets.load(ID, tmp_path / "s"), madatasets.load(ID, source))
    # A .part holding zeros instead: the download keeps them and fetches only the rest, so
    # the sha256 check refuses the file, which a fetch from byte 0 would not have.
    part2 = tmp_path / "t" / ".downloads" / entry["card_sha256"] / (largest["path"] + ".part")
    part2.parent.mkdir(parents=True)
    part2.write_bytes(bytes(len(data) // 2))
    with pytest.raises(ChecksumError, match="sha256 mismatch"):
        download(ID, tmp_path / "t", [url], progress=False)
