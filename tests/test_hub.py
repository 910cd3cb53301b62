"""The hub on loopback: publish to a folder, serve it over HTTP from a server started
here, download (resumed, verified, atomic), and every way a remote can be wrong."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import madatasets
from cli_runner import one_line_error, run_cli
from conftest import random_store
from hub_servers import FileServer
from madatasets.errors import ChecksumError, MadataError
from madatasets.hub import download, publish
from madatasets.hub.index import parse_index
from madatasets.integrity import card_digest
from madatasets.store import Store

ID = "mpe-spread-3/random-v1"


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch):
    monkeypatch.setenv("MADATA_BACKOFF", "0.01")
    monkeypatch.setenv("MADATA_TIMEOUT", "5")
    monkeypatch.delenv("MADATA_REMOTE", raising=False)
    monkeypatch.setenv("MADATA_CONFIG", "/nonexistent/madata-config.json")


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    root = Path(random_store(tmp_path_factory))
    from collectors.collect import collect
    collect("mpe-spread-3", "random", steps=120, seed=1, store=root, version=2, progress=False)
    return root


@pytest.fixture
def remote(source, tmp_path):
    folder = tmp_path / "remote"
    publish(ID, str(folder), source)
    return folder






def entry_of(folder):
    index = json.loads((folder / "index.json").read_text())
    return index, index["datasets"][0]


def largest_file(folder):
    _, entry = entry_of(folder)
    listed = max(entry["files"], key=lambda f: f["size"])
    return f"{entry['path']}/{listed['path']}", listed["size"]


def nothing_installed(store_root):
    store = Store(store_root)
    assert not store.exists or store.list() == []
    versions = list(Path(store_root).glob("*/.versions/*/*"))
    assert versions == [], versions


def same_arrays(a, b):
    assert a.card["checksums"] == b.card["checksums"]
    for name, array in a.arrays.items():
        np.testing.assert_array_equal(array, b.arrays[name])


# -- the index --------------------------------------------------------------------------------
def test_publish_writes_a_valid_index_and_is_idempotent(source, tmp_path, capsys):
    folder = tmp_path / "remote"
    code, out, _ = run_cli(capsys, "publish", ID, "--to", str(folder), "--dry-run", "--store", str(source))
    assert code == 0 and "would upload 22 of 22 files" in out and "would add" in out
    assert not folder.exists()              # a dry run changes nothing
    code, out, _ = run_cli(capsys, "publish", ID, "--to", str(folder), "--store", str(source))
    assert code == 0 and out.startswith(f"published {ID}@") and "22 files uploaded" in out
    raw = (folder / "index.json").read_bytes()
    index = parse_index(raw, str(folder))
    (entry,) = index["datasets"]
    card = Store(source).card(ID)
    assert entry["card"] == card and entry["card_sha256"] == card_digest(card)
    assert entry["total_bytes"] == sum(f["size"] for f in entry["files"])
    assert entry["requires"] == {"madata": madatasets.__version__, "scenario": "mpe-spread-3",
                                 "scenario_version": madatasets.get_spec("mpe-spread-3").version}
    for listed in entry["files"]:
        assert (folder / entry["path"] / listed["path"]).stat().st_size == listed["size"]
    code, out, _ = run_cli(capsys, "publish", ID, "--to", str(folder), "--store", str(source))
    assert code == 0 and "already published" in out and "nothing changed" in out
    assert json.loads((folder / "index.json").read_bytes())["datasets"] == json.loads(raw)["datasets"]
    code, out, _ = run_cli(capsys, "publish", ID, "--to", str(folder), "--dry-run", "--store", str(source))
    assert "would upload 0 of 22 files" in out and "would leave" in out and "already there" in out


def test_an_index_that_breaks_the_schema_is_refused(remote, tmp_path, capsys):
    index, entry = entry_of(remote)
    entry["total_bytes"] = "lots"
    (remote / "index.json").write_text(json.dumps(index))
    code, _, err = run_cli(capsys, "download", ID, "--remote", str(remote), "--store", str(tmp_path / "s"))
    one_line_error(code, err, "does not follow the madata index schema at datasets/0/total_bytes")
    nothing_installed(tmp_path / "s")


@pytest.mark.parametrize("name", ["../../outside.txt", "/etc/passwd", "data.zarr/../../x", "a\\..\\b"])
def test_names_that_escape_are_refused(remote, tmp_path, capsys, name):
    index, entry = entry_of(remote)
    entry["files"].append({"path": name, "size": 1, "sha256": "0" * 64})
    entry["total_bytes"] += 1
    (remote / "index.json").write_text(json.dumps(index))
    with FileServer(remote) as server:
        code, _, err = run_cli(capsys, "download", ID, "--remote", server.url, "--store", str(tmp_path / "s"))
        assert not any("outside" in path or "passwd" in path for path, _ in server.behaviour.requests[1:])
    one_line_error(code, err, "index")
    nothing_installed(tmp_path / "s")
    assert not (tmp_path / "outside.txt").exists()


def test_an_entry_path_that_escapes_is_refused(remote, tmp_path):
    index, entry = entry_of(remote)
    entry["path"] = "../elsewhere"
    (remote / "index.json").write_text(json.dumps(index))
    with pytest.raises(MadataError, match="index"):
        download(ID, tmp_path / "s", [str(remote)], progress=False)


def test_a_symlink_in_a_local_remote_is_refused(remote, tmp_path):
    _, entry = entry_of(remote)
    target = remote / entry["path"] / "DATASET_CARD.md"
    outside = tmp_path / "secret.md"
    outside.write_bytes(target.read_bytes())
    target.unlink()
    target.symlink_to(outside)
    with pytest.raises(MadataError, match="symbolic link"):
        download(ID, tmp_path / "s", [str(remote)], progress=False)
    nothing_installed(tmp_path / "s")


def test_an_index_whose_card_and_files_disagree_is_refused(remote, tmp_path):
    index, entry = entry_of(remote)
    entry["card"]["returns"]["mean"] += 100.0           # a better-looking card, consistently re-hashed
    entry["card_sha256"] = card_digest(entry["card"])
    (remote / "index.json").write_text(json.dumps(index))
    with pytest.raises(ChecksumError, match="not the card its index entry lists"):
        download(ID, tmp_path / "s", [str(remote)], progress=False)
    nothing_installed(tmp_path / "s")
    # And an entry whose card does not hash to its card_sha256 is refused when the index is read.
    entry["card"]["returns"]["mean"] += 1.0
    (remote / "index.json").write_text(json.dumps(index))
    with pytest.raises(MadataError, match="does not match its card_sha256"):
        download(ID, tmp_path / "s", [str(remote)], progress=False)


# -- download over HTTP -----------------------------------------------------------------------
def test_download_over_http_then_noop(source, remote, tmp_path, capsys):
    store = tmp_path / "s"
    with FileServer(remote) as server:
        code, out, err = run_cli(capsys, "download", ID, "--remote", server.url, "--store", str(store), "--quiet")
        assert code == 0, err
        assert out.startswith(f"downloaded {ID}@") and "22 files" in out and "every sha256 checked" in out
        requests = len(server.behaviour.requests)
        code, out, _ = run_cli(capsys, "download", ID, "--remote", server.url, "--store", str(store))
        assert code == 0 and "already in the store with the same checksums; nothing downloaded" in out
        assert len(server.behaviour.requests) == requests + 1          # the index only
    same_arrays(madatasets.load(ID, store), madatasets.load(ID, source))
    assert not (store / ".downloads").exists()
    code, out, _ = run_cli(capsys, "verify", ID, "--store", str(store))
    assert code == 0 and f"ok {ID}" in out


def test_download_resumes_after_the_server_drops_mid_file(source, remote, tmp_path, monkeypatch):
    name, size = largest_file(remote)
    store = tmp_path / "s"
    with FileServer(remote) as server:
        # One attempt only: the dropped transfer fails, its received half stays as a .part file.
        monkeypatch.setenv("MADATA_RETRIES", "1")
        server.behaviour.drop_after[name] = size // 2
        with pytest.raises(MadataError, match=f"the connection ended after {size // 2:,} of {size:,} bytes"):
            download(ID, store, [server.url], progress=False)
        nothing_installed(store)
        (part,) = (store / ".downloads").rglob("*.part")
        assert part.stat().st_size == size // 2
        # The next run asks only for the rest; a second drop within the run is retried.
        monkeypatch.setenv("MADATA_RETRIES", "3")
        server.behaviour.requests.clear()
        server.behaviour.drop_after[name] = size // 8
        result = download(ID, store, [server.url], progress=False)
    ranges = [r for path, r in server.behaviour.requests if path == name]
    assert ranges == [f"bytes={size // 2}-", f"bytes={size // 2 + size // 8}-"]
    assert result.installed
    same_arrays(madatasets.load(ID, store), madatasets.load(ID, source))


def test_a_server_that_ignores_ranges_is_read_from_the_start(source, remote, tmp_path, monkeypatch):
    name, size = largest_file(remote)
    with FileServer(remote) as server:
        server.behaviour.drop_after[name] = size // 3
        server.behaviour.ranges = False
        download(ID, tmp_path / "s", [server.url], progress=False)
    same_arrays(madatasets.load(ID, tmp_path / "s"), madatasets.load(ID, source))


def test_a_flipped_byte_is_refused_and_nothing_is_installed(remote, tmp_path, capsys):
    name, _ = largest_file(remote)
    store = tmp_path / "s"
    with FileServer(remote) as server:
        server.behaviour.flip.add(name)
        code, _, err = run_cli(capsys, "download", ID, "--remote", server.url, "--store", str(store), "--quiet")
    one_line_error(code, err, "sha256 mismatch")
    assert "nothing was installed" in err
    nothing_installed(store)
    # Files that matched stay staged for the next run; the damaged one is not resumed from.
    damaged = name.split("/", 3)[-1]
    assert not [p for p in (store / ".downloads").rglob("*") if p.is_file() and p.stat().st_size
                and p.as_posix().endswith((damaged, damaged + ".part"))]


def test_a_missing_file_is_a_404_in_one_line(remote, tmp_path, capsys):
    name, _ = largest_file(remote)
    with FileServer(remote) as server:
        server.behaviour.missing.add(name)
        code, _, err = run_cli(capsys, "download", ID, "--remote", server.url, "--store", str(tmp_path / "s"))
    one_line_error(code, err, "HTTP 404 Not Found")
    nothing_installed(tmp_path / "s")


def test_an_unknown_id_and_an_unknown_revision(remote, tmp_path, capsys):
    code, _, err = run_cli(capsys, "download", "mpe-spread-3/expert-v1", "--remote", str(remote),
                           "--store", str(tmp_path / "s"))
    one_line_error(code, err, "is not on the remote")
    code, _, err = run_cli(capsys, "download", f"{ID}@ffffffff", "--remote", str(remote), "--store", str(tmp_path / "s"))
    one_line_error(code, err, f"{ID}@ffffffff is not on the remote")
    code, _, err = run_cli(capsys, "download", f"{ID}@xyz", "--remote", str(remote), "--store", str(tmp_path / "s"))
    one_line_error(code, err, "is not a sha256 prefix")
    code, _, err = run_cli(capsys, "download", ID, "--store", str(tmp_path / "s"))
    one_line_error(code, err, "no remote configured")


def test_a_revision_prefix_selects_the_entry(source, remote, tmp_path):
    _, entry = entry_of(remote)
    result = download(f"{ID}@{entry['card_sha256'][:10]}", tmp_path / "s", [str(remote)], progress=False)
    assert result.installed and result.card_sha256 == entry["card_sha256"]


def test_a_slow_server_times_out_in_one_line(remote, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MADATA_TIMEOUT", "0.3")
    monkeypatch.setenv("MADATA_RETRIES", "2")
    with FileServer(remote) as server:
        server.behaviour.delay = 1.5
        started = time.monotonic()
        code, _, err = run_cli(capsys, "download", ID, "--remote", server.url, "--store", str(tmp_path / "s"))
        elapsed = time.monotonic() - started
    one_line_error(code, err, "timed out")
    assert "gave up after 2 attempts" in err and elapsed < 5
    nothing_installed(tmp_path / "s")


def test_mirrors_first_match_wins_and_unreachable_ones_are_skipped(source, remote, tmp_path, monkeypatch, capsys):
    empty = tmp_path / "empty-remote"
    publish("mpe-spread-3/random-v2", str(empty), source)
    dead = "http://127.0.0.1:9"                        # the discard port: nothing listens
    monkeypatch.setenv("MADATA_RETRIES", "1")
    monkeypatch.setenv("MADATA_REMOTE", f"{dead} {empty} {remote}")
    result = download(ID, tmp_path / "s", progress=False)
    assert result.remote == str(remote)
    code, out, err = run_cli(capsys, "list", "--remote", "--store", str(tmp_path / "s"))
    assert code == 0, err
    rows = out.splitlines()
    assert rows[0].split()[:2] == ["id@revision", "tier"] and rows[0].endswith("remote")
    assert rows[1].startswith("mpe-spread-3/random-v2@") and rows[1].split()[-2:] == ["no", str(empty)]
    assert rows[2].startswith(f"{ID}@") and rows[2].split()[-2:] == ["yes", str(remote)]
    assert "127.0.0.1:9" in err and "warning" in err


def test_list_remote_table(source, remote, tmp_path, capsys):
    code, out, _ = run_cli(capsys, "list", "--remote", str(remote), "--store", str(tmp_path / "nothing"))
    assert code == 0
    header, row = out.splitlines()
    assert header.split() == ["id@revision", "tier", "steps", "size", "mean", "return", "local"]
    assert row.split()[1:3] == ["random", "200"] and row.split()[-1] == "no"


def test_load_with_download(source, remote, tmp_path):
    dataset = madatasets.load(ID, tmp_path / "s", download=True, remote=str(remote))
    same_arrays(dataset, madatasets.load(ID, source))
    assert dataset.verified_checksums == dataset.card["checksums"]


def test_a_different_local_revision_needs_overwrite(source, remote, tmp_path):
    from collectors.collect import collect
    collect("mpe-spread-3", "random", steps=60, seed=5, store=tmp_path / "s", progress=False)
    with pytest.raises(MadataError, match="with another card"):
        download(ID, tmp_path / "s", [str(remote)], progress=False)
    assert download(ID, tmp_path / "s", [str(remote)], overwrite=True, progress=False).installed
    same_arrays(madatasets.load(ID, tmp_path / "s"), madatasets.load(ID, source))


def test_download_refuses_what_this_madata_cannot_use(remote, tmp_path):
    index, entry = entry_of(remote)
    entry["requires"]["madata"] = "99.0"
    (remote / "index.json").write_text(json.dumps(index))
    with pytest.raises(MadataError, match="needs madata >= 99.0"):
        download(ID, tmp_path / "s", [str(remote)], progress=False)


# -- concurrency ------------------------------------------------------------------------------
def test_two_concurrent_publishes_keep_both_entries(source, tmp_path, monkeypatch):
    import madatasets.hub.index as index_module
    import madatasets.hub.remote_local as remote_module
    original = index_module.dump_index

    def slow_dump(index):
        # Both publishers read the index before either writes, unless the guard serializes them.
        time.sleep(0.3)
        return original(index)
    monkeypatch.setattr(remote_module, "dump_index", slow_dump)
    folder = tmp_path / "remote"
    errors = []

    def run(dataset_id):
        try:
            publish(dataset_id, str(folder), source)
        except Exception as error:  # noqa: BLE001  (reported below)
            errors.append(error)
    threads = [threading.Thread(target=run, args=(i,)) for i in (ID, "mpe-spread-3/random-v2")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    ids = sorted(e["id"] for e in json.loads((folder / "index.json").read_text())["datasets"])
    assert ids == [ID, "mpe-spread-3/random-v2"]
    assert not (folder / "index.json.lock").exists()


def test_a_stale_lock_of_a_dead_publisher_is_broken(source, tmp_path):
    import socket
    import subprocess
    folder = tmp_path / "remote"
    folder.mkdir()
    dead = subprocess.Popen(["true"])
    dead.wait()
    (folder / "index.json.lock").write_text(json.dumps({"host": socket.gethostname(), "pid": dead.pid}))
    publish(ID, str(folder), source)
    assert [e["id"] for e in json.loads((folder / "index.json").read_text())["datasets"]] == [ID]


# -- read-only remote store -------------------------------------------------------------------
def test_http_remote_as_a_read_only_store(source, remote, capsys):
    with FileServer(remote) as server:
        dataset = madatasets.load(ID, server.url)
        same_arrays(dataset, madatasets.load(ID, source))
        code, out, _ = run_cli(capsys, "info", ID, "--json", "--store", server.url)
        assert code == 0 and json.loads(out)["checksums"] == dataset.card["checksums"]
        code, out, _ = run_cli(capsys, "verify", ID, "--store", server.url)
        assert code == 0 and f"ok {ID}" in out
        name, _ = largest_file(remote)
        server.behaviour.flip.add(name)
        with pytest.raises(ChecksumError, match="sha256 mismatch"):
            madatasets.load(ID, server.url)
    code, _, err = run_cli(capsys, "collect", "mpe-spread-3", "--env-steps", "10", "--store", "s3://bucket/x")
    one_line_error(code, err, "read-only")


def test_os_errors_on_the_store_are_one_line(remote, tmp_path, capsys):
    store = tmp_path / "file-not-store"
    store.write_text("x")
    code, _, err = run_cli(capsys, "download", ID, "--remote", str(remote), "--store", str(store))
    one_line_error(code, err, "is a file")


def test_any_fsspec_url_is_a_read_only_remote(source, remote, tmp_path):
    import uuid

    import fsspec
    fs = fsspec.filesystem("memory")
    bucket = f"/madata-{uuid.uuid4().hex[:8]}"
    for path in remote.rglob("*"):
        if path.is_file():
            fs.pipe_file(f"{bucket}/{path.relative_to(remote).as_posix()}", path.read_bytes())
    url = f"memory:/{bucket}"
    result = download(ID, tmp_path / "s", [url], progress=False)
    assert result.installed and result.remote == url
    same_arrays(madatasets.load(ID, tmp_path / "s"), madatasets.load(ID, source))
    same_arrays(madatasets.load(ID, store=url), madatasets.load(ID, source))
    with pytest.raises(MadataError, match="read-only for madata"):
        publish(ID, url, source)


def test_stats_and_export_read_a_remote_store(source, remote, tmp_path, capsys):
    with FileServer(remote) as server:
        code, out, err = run_cli(capsys, "stats", ID, "--store", server.url)
        assert code == 0, err
        assert ID in out and "action coverage" in out
        code, out, err = run_cli(capsys, "export", ID, "--format", "hdf5", "--out", str(tmp_path / "x.h5"),
                                 "--store", server.url)
        assert code == 0, err
    import h5py
    with h5py.File(tmp_path / "x.h5") as handle:
        np.testing.assert_array_equal(handle["actions"][...], madatasets.load(ID, source).actions)


def test_remotes_from_the_config_file(source, remote, tmp_path, monkeypatch, capsys):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"remotes": [str(remote)]}))
    monkeypatch.setenv("MADATA_CONFIG", str(config))
    assert download(ID, tmp_path / "s", progress=False).remote == str(remote)
    config.write_text(json.dumps({"remotes": "not a list"}))
    code, _, err = run_cli(capsys, "list", "--remote", "--store", str(tmp_path / "s"))
    one_line_error(code, err, '"remotes" must be a list of URLs')
    config.write_text("{broken")
    code, _, err = run_cli(capsys, "download", ID, "--store", str(tmp_path / "s"))
    one_line_error(code, err, "is unreadable")
