"""The store on object storage (``s3://``), tested against moto's S3 server started here on localhost.

moto's server mode is a stand-in for a cloud object store outside this machine (AWS S3, or any S3-compatible
service): the tests start it on a free port, point the standard ``AWS_*`` variables (``AWS_ENDPOINT_URL``
included) at it, make a bucket, and build into it the way a user would: a build, an unchanged rebuild that
does no work, a build on a local Ray cluster of 2 workers, a killed build that resumes, ``gc``, ``ls``,
``show`` and ``export`` of a remote version, and the error for a URL no installed fsspec protocol serves.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from tests_paths import ROOT

from factory.log import Reporter
from factory.pipeline.runner import build
from factory.recipe import load_recipe
from factory.storage.gc import collect
from factory.storage.store import Store

s3fs = pytest.importorskip("s3fs")
pytest.importorskip("moto")

FACTORY = [sys.executable, "-m", "factory.cli.main"]
QUICKSTART = ROOT / "recipes" / "quickstart.yaml"
QUIET = Reporter(quiet=True)
RECIPE = """
name: bars
sources:
  - {name: qa, path: "qa-*.jsonl", adapter: medquad}
stages:
  - {type: normalize}
  - {type: exact_dedup}
  - {type: minhash_dedup}
  - {type: to_chat}
outputs:
  sft: {format: messages}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory):
    """moto's S3 server in its own process (the stand-in for the cloud store), stopped after the module."""
    port = _free_port()
    log = open(tmp_path_factory.mktemp("moto") / "server.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=log
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while True:
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=2)
            break
        except OSError:
            assert proc.poll() is None and time.time() < deadline, "moto server did not start"
            time.sleep(0.2)
    yield endpoint
    proc.terminate()
    proc.wait(timeout=30)
    log.close()


@pytest.fixture
def s3(s3_server, monkeypatch, tmp_path):
    """A fresh bucket; the ``AWS_*`` environment as a user sets it; the stores' local mirrors under tmp."""
    env = {
        "AWS_ENDPOINT_URL": s3_server,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "FACTORY_STORE_MIRRORS": str(tmp_path / "mirrors"),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    bucket = f"bars-{uuid.uuid4().hex[:8]}"
    fs = s3fs.S3FileSystem(skip_instance_cache=True)
    fs.mkdir(bucket)
    return {"url": f"s3://{bucket}/store", "bucket": bucket, "fs": fs, "env": {**os.environ, **env}}


def _tables(folder: Path, name: str):
    return pq.read_table(folder / name).sort_by("id")


def _objects(fs, prefix: str) -> set[str]:
    fs.invalidate_cache()
    return set(fs.find(prefix))


def test_build_rebuild_and_commands_on_s3(s3, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a URL taken for a path would make ./s3:/ here
    local = build(load_recipe(QUICKSTART), Store(tmp_path / "local"), executor="local", reporter=QUIET)
    store = Store(s3["url"])
    remote = build(load_recipe(QUICKSTART), store, executor="local", reporter=QUIET)
    assert remote.version_id == local.version_id and remote.location == f"{s3['url']}/versions/{remote.version_id}"
    assert not (tmp_path / "s3:").exists()
    for name in ("sft", "preference"):  # same rows as on local disk
        assert _tables(remote.path, name).equals(_tables(local.path, name))
    # the version in the bucket is a manifest over the entries' objects: no copies, no links
    objects = _objects(s3["fs"], s3["bucket"])
    version_dir = f"{s3['bucket']}/store/versions/{remote.version_id}"
    assert {o for o in objects if o.startswith(version_dir)} == {
        f"{version_dir}/{n}" for n in ("manifest.json", "recipe.yaml", "report.html")
    }
    files = [f for out in remote.manifest["outputs"].values() for f in out["files"]]
    assert files and all(f"{s3['bucket']}/store/{f['object']}" in objects for f in files)

    again = build(load_recipe(QUICKSTART), store, executor="local", reporter=QUIET)
    assert again.reused  # the manifest is in the bucket: nothing to do
    s3["fs"].rm(version_dir, recursive=True)
    rebuilt = build(load_recipe(QUICKSTART), Store(s3["url"]), executor="local", reporter=QUIET)
    m = rebuilt.manifest
    assert all(s["cached"] for s in m["sources"] + m["stages"]) and m["outputs_step"]["cached"]
    assert _objects(s3["fs"], s3["bucket"]) - objects == set()  # the cached entries were read, nothing written

    def cli(*args):
        out = subprocess.run([*FACTORY, *map(str, args)], capture_output=True, text=True, env=s3["env"], timeout=300)
        assert out.returncode == 0, out.stderr[-3000:]
        return out.stdout

    listing = json.loads(cli("ls", "--store", s3["url"], "--json"))
    assert [v["version"] for v in listing] == [remote.version_id]
    shown = cli("show", remote.version_id[:8], "--store", s3["url"])
    assert "exact_dedup" in shown and "demo_open_qa" in shown
    folder = Path(cli("export", remote.version_id, tmp_path / "export", "--store", s3["url"]).strip())
    import datasets

    sft = datasets.load_dataset(str(folder), "sft", split="train", cache_dir=str(tmp_path / "hf"))
    assert len(sft) == local.manifest["outputs"]["sft"]["rows"]


def test_unservable_url_is_an_error_before_any_work(tmp_path):
    for url, says in (("nope://bars/store", "knows no protocol 'nope://'"), ("gs://bars/store", "needs a package")):
        if url.startswith("gs") and __import__("importlib").util.find_spec("gcsfs"):
            continue  # gcsfs installed: gs:// is servable here
        out = subprocess.run(
            [*FACTORY, "build", QUICKSTART, "--store", url], capture_output=True, text=True, cwd=tmp_path, timeout=120
        )
        assert out.returncode != 0 and says in out.stderr, out.stderr[-2000:]
        assert list(tmp_path.iterdir()) == []  # no folder named after the URL, no store, no log


def test_storage_options_from_the_recipe_stay_out_of_the_version(s3, tmp_path, monkeypatch):
    for key in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(key)
    secret = f"secret-{uuid.uuid4().hex}"  # moto accepts any key pair
    recipe = load_recipe(QUICKSTART)
    recipe.storage_options = {"key": "testing-key", "secret": secret, "endpoint_url": s3["env"]["AWS_ENDPOINT_URL"]}
    result = build(recipe, Store(s3["url"], recipe.storage_options), executor="local", reporter=QUIET)
    store = Store(s3["url"], recipe.storage_options)
    for name in ("manifest.json", "recipe.yaml"):
        text = store.remote.cat(f"versions/{result.version_id}/{name}").decode()
        assert secret not in text and "storage_options" not in text and "testing-key" not in text


def _project(folder: Path, rows: int) -> Path:
    sys.path.insert(0, str(ROOT / "bench"))
    from dataplane_data import generate

    generate(folder, rows, 4, seed=3)
    (folder / "recipe.yaml").write_text(RECIPE)
    return folder / "recipe.yaml"


def test_killed_build_resumes_and_gc_removes_what_it_left(s3, tmp_path):
    recipe = _project(tmp_path / "p", 60_000)
    proc = subprocess.Popen(
        [*FACTORY, "build", recipe, "--store", s3["url"], "--executor", "local", "-q"],
        env=s3["env"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    cache = f"{s3['bucket']}/store/cache"
    deadline = time.time() + 240
    while not any(o.endswith("/shards.json") for o in _objects(s3["fs"], cache)):
        assert proc.poll() is None and time.time() < deadline, "the build ended before its first entry appeared"
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    store = Store(s3["url"])
    assert store.names("versions") == []  # killed before it finished: no version
    finished = {o.split("/")[-2] for o in _objects(s3["fs"], cache) if o.endswith("/shards.json")}
    resumed = build(load_recipe(recipe), store, executor="local", reporter=QUIET)
    assert resumed.manifest["sources"][0]["cached"] and resumed.manifest["sources"][0]["key"] in finished
    # a second recipe's version, then removed: gc takes its entries and the killed build's leftovers
    other = build(load_recipe(recipe, ["stages.minhash_dedup.threshold=0.6"]), store, executor="local", reporter=QUIET)
    store.remote.rm(f"versions/{other.version_id}")
    report = collect(store)
    assert report["removed"] and report["kept"] == 6  # load, normalize, exact, minhash, to_chat, outputs
    left = _objects(s3["fs"], cache)
    keys = {s["key"] for s in resumed.manifest["sources"] + resumed.manifest["stages"]}
    keys.add(resumed.manifest["outputs_step"]["key"])
    assert {o.split("/")[3] for o in left} == keys
    for key in keys:  # one attempt per kept entry: the one its index names
        index = json.loads(s3["fs"].cat_file(f"{cache}/{key}/shards.json"))
        assert {o.split("/")[4] for o in left if o.split("/")[3] == key} - {"shards.json", "stats.json"} == {
            index["entry"].split("/")[-1]
        }
    store.remote.rm(f"versions/{resumed.version_id}")  # the version still reads whole after gc
    again = build(load_recipe(recipe), store, executor="local", reporter=QUIET)
    assert again.manifest["outputs_step"]["cached"]
    assert _tables(store.local_version(again.version_id), "sft").num_rows == again.manifest["outputs"]["sft"]["rows"]


@pytest.mark.ray
def test_ray_workers_write_to_the_bucket(s3, tmp_path):
    """A build on a local Ray cluster of 2 workers (in the build's own process tree, which inherits the
    ``AWS_*`` environment): its tasks read and write the bucket themselves; same rows as in process."""
    recipe = _project(tmp_path / "p", 6_000)
    recipe.write_text(RECIPE + "executor: {kind: ray, num_cpus: 2}\n")
    out = subprocess.run(
        [*FACTORY, "build", recipe, "--store", s3["url"]], capture_output=True, text=True, env=s3["env"], timeout=600
    )
    assert out.returncode == 0, out.stderr[-3000:]
    store = Store(s3["url"])
    location = out.stdout.strip().splitlines()[-1]
    assert location.startswith(f"{s3['url']}/versions/")  # the last stdout line names the version in the bucket
    vid = location.rsplit("/", 1)[-1]
    assert store.manifest(vid)["executor"] == "ray"
    local = build(load_recipe(recipe), Store(tmp_path / "local"), executor="local", reporter=QUIET)
    assert local.version_id == vid
    assert _tables(store.local_version(vid), "sft").equals(_tables(local.path, "sft"))


def test_request_cache_travels_through_the_bucket(s3, tmp_path):
    """Two machines' mirrors (two folders here) share generation answers through ``<store>/gen_cache/``: each
    build merges the bucket's copy in at its start and pushes its own, merged, at its end."""
    from factory.llm.cache import RequestCache
    from factory.llm.types import Response
    from factory.storage.remote import pull_sqlite, push_sqlite

    remote = Store(s3["url"]).remote
    one, two = tmp_path / "one", tmp_path / "two"
    first = RequestCache(one, "tiny@abc")
    first.put("k1", Response(["a"], "tiny", ["stop"]))
    assert push_sqlite(remote, "gen_cache", one) == 1
    assert pull_sqlite(remote, "gen_cache", two) == 1
    second = RequestCache(two, "tiny@abc")
    assert second.get_many(["k1"])["k1"].texts == ["a"]
    second.put("k2", Response(["b"], "tiny", ["stop"]))
    first.put("k3", Response(["c"], "tiny", ["stop"]))  # written while the other machine worked
    push_sqlite(remote, "gen_cache", two)
    push_sqlite(remote, "gen_cache", one)  # merges the bucket's k2 in before uploading
    second.close()
    pull_sqlite(remote, "gen_cache", two)
    assert set(RequestCache(two, "tiny@abc").get_many(["k1", "k2", "k3"])) == {"k1", "k2", "k3"}
    first.close()


def test_gc_waits_for_a_running_build(s3):
    """A build holds a lease in the bucket (refreshed while it runs): gc refuses while another machine's lease
    is fresh, and clears it once stale."""
    from factory.errors import FactoryError
    from factory.storage.gc import LEASE_STALE_S

    store = Store(s3["url"])
    store.write_json("leases/other.json", {"host": "elsewhere", "pid": 1, "heartbeat": time.time()})
    with pytest.raises(FactoryError, match="a build is running"):
        collect(store)
    store.write_json("leases/other.json", {"host": "elsewhere", "pid": 1, "heartbeat": time.time() - LEASE_STALE_S - 1})
    assert collect(store)["removed"] == [] and store.names("leases") == []


def test_stage_artifacts_come_from_the_bucket(s3, tmp_path):
    """A stage's artifacts (the quality classifier the next stage loads) are objects of its entry: a machine
    with an empty mirror fetches them from the bucket, and the version names them."""
    recipe = ROOT / "recipes" / "quality_demo.yaml"
    first = build(load_recipe(recipe), Store(s3["url"]), executor="local", reporter=QUIET)
    arts = [f for s in first.manifest["stages"] for f in s.get("artifacts", [])]
    assert arts and all(f["object"].endswith(f["path"].split("/", 2)[-1]) for f in arts)
    os.environ["FACTORY_STORE_MIRRORS"] = str(tmp_path / "another-machine")  # monkeypatched by the fixture
    store = Store(s3["url"])
    store.remote.rm(f"versions/{first.version_id}")
    score = next(s for s in first.manifest["stages"] if s["name"] == "quality_score")
    store.remote.rm(f"cache/{score['key']}")
    again = build(load_recipe(recipe), store, executor="local", reporter=QUIET)
    assert [s["cached"] for s in again.manifest["stages"]] == [True, True, True, False, True]
    for name in first.manifest["outputs"]:
        assert _tables(again.path, name).equals(_tables(first.path, name))
    assert (store.local_version(again.version_id) / arts[0]["path"]).is_file()
