"""The fault suite: break pdfgc on purpose and regenerate docs/RELIABILITY.md from what happened.

    .venv/bin/python bench/faults.py            # all cases, several minutes on 2 cores
    .venv/bin/python bench/faults.py --only inputs,hostile   # a subset (the table keeps its order)

Every case runs the real commands and engines (ffmpeg, ``pdfgc preprocess`` with Prefect's
temporary server and a Dask LocalCluster, torchrun) on inputs cut from the real sample clips.
The table has one row per case: what was done, what is expected, what was observed, and whether
they agree; the exit status is 1 when any row disagrees.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

import pandas as pd  # noqa: E402
import webdataset as wds  # noqa: E402

from tests.helpers.media import cut_clip  # noqa: E402
from tests.helpers.media_sources import find_samples  # noqa: E402
from tests.helpers.processes import cmdline, family, listening, survivors  # noqa: E402

DOC = REPO_ROOT / "docs" / "RELIABILITY.md"
SHARED = Path(os.environ.get("PDFGC_SHARED_SAMPLES", REPO_ROOT.parent / "shared" / "samples"))
CLI = [sys.executable, "-m", "pdfgc.cli"]
PREPROCESS_SET = ["--config", "tiny", "--set", "data.chunk_frames=25", "--set", "data.shard_crop_size=128",
                  "--set", "data.shard_target_mb=0.05", "--set", "compute.n_workers=2"]
LOOPBACK = ("127.0.0.1", "::1", "::ffff:127.0.0.1")
ENV = os.environ | {"PYTHONPATH": str(REPO_ROOT), "DO_NOT_TRACK": "true", "MLFLOW_DISABLE_TELEMETRY": "true",
                    "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "WDS_SECURE": "1"}


@dataclass
class Row:
    case: str
    done: str
    expected: str
    observed: str
    ok: bool


def run(args: list[str], timeout: float = 600, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=REPO_ROOT, env=ENV, capture_output=True, text=True, timeout=timeout, **kwargs)


def shard_keys(out: Path) -> list[str]:
    return [s["__key__"] for tar in sorted(out.glob("pdfgc-*.tar")) for s in wds.WebDataset(str(tar), shardshuffle=False)]


# --- bad inputs -------------------------------------------------------------------------------

def bad_inputs(work: Path, base: Path) -> list[Row]:
    """One ``pdfgc preprocess`` over a folder of bad inputs beside good ones."""
    from tests.e2e import test_preprocess_reliability as makers

    folder = work / "bad"
    folder.mkdir()
    expected: dict[str, str] = {}
    for make, reason in makers.BAD_INPUTS:
        make(base, folder / f"{reason}.mp4")
        expected[f"{reason}.mp4"] = reason
    (folder / "random_bytes.mp4").write_bytes(random.Random(0).randbytes(50_000))
    expected["random_bytes.mp4"] = "not_a_video"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(base), "-frames:v", "1", str(folder / "image.png")], check=True)
    (folder / "image.png").rename(folder / "png_image.mp4")
    expected["png_image.mp4"] = "no_audio"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(base), "-vn", "-c:a", "aac", str(folder / "audio_only.mp4")], check=True)
    expected["audio_only.mp4"] = "no_video_stream"
    (folder / "dangling.mp4").symlink_to(work / "gone.mp4")
    expected["dangling.mp4"] = "dangling_symlink"
    (folder / "loop.mp4").symlink_to(folder / "loop.mp4")
    expected["loop.mp4"] = "symlink_loop"
    (folder / "folder_named.mp4").mkdir()
    (folder / "good.mp4").write_bytes(base.read_bytes())
    (folder / "weird name ü #1.mp4").write_bytes(base.read_bytes())
    collide = [folder / "id00012" / "my vid" / "clip ü 1.mp4", folder / "id00012" / "my-vid" / "clip-ü-1.mp4"]
    for path in collide:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base.read_bytes())
    out = work / "bad-out"
    started = time.monotonic()
    proc = run([*CLI, "preprocess", str(folder), "--out", str(out), *PREPROCESS_SET], timeout=900)
    seconds = time.monotonic() - started
    quarantine = pd.read_parquet(out / "quarantine.parquet") if (out / "quarantine.parquet").exists() else pd.DataFrame(columns=["source", "reason"])
    manifest = pd.read_parquet(out / "manifest.parquet") if (out / "manifest.parquet").exists() else pd.DataFrame(columns=["source", "key"])
    got = {Path(s).name: r for s, r in zip(quarantine["source"], quarantine["reason"])}
    rows = []
    for name, reason in expected.items():
        rows.append(Row(f"bad input: {name.removesuffix('.mp4')}", f"`{name}` among {len(expected) + 5} inputs of one `pdfgc preprocess`",
                        f"quarantined as `{reason}`", f"`{got.get(name, 'not quarantined')}`", got.get(name) == reason))
    rows.append(Row("bad input: folder named *.mp4", "a folder called `folder_named.mp4`", "ignored (not a file)",
                    "ignored" if "folder_named.mp4" not in got else f"`{got['folder_named.mp4']}`", "folder_named.mp4" not in got))
    ok_sources = set(manifest["source"].map(lambda s: Path(s).name))
    rows.append(Row("bad input: odd characters in the name", "`weird name ü #1.mp4` (a good clip)", "processed",
                    "processed" if "weird name ü #1.mp4" in ok_sources else "missing", "weird name ü #1.mp4" in ok_sources))
    pair = manifest[manifest["source"].isin([str(p) for p in collide])]
    both = pair["source"].nunique() == 2 and pair["key"].is_unique and manifest["key"].is_unique
    rows.append(Row("bad input: two paths, one clean key", "`my vid/clip ü 1.mp4` and `my-vid/clip-ü-1.mp4`",
                    "both processed, keys unique", f"{pair['source'].nunique()} videos, {len(pair)} samples, keys unique: {manifest['key'].is_unique}", both))
    rows.append(Row("bad inputs: the run", f"`pdfgc preprocess` over all of the above ({seconds:.0f} s)",
                    "exit 0, good clips packed, one line per failure, no traceback",
                    f"exit {proc.returncode}, {manifest['source'].nunique()} videos packed, traceback: {'Traceback' in proc.stderr}",
                    proc.returncode == 0 and manifest["source"].nunique() == 4 and "Traceback" not in proc.stderr))
    rows += permission_cases(work, base)
    return rows


DROPPED = textwrap.dedent("""
    import json, os, sys
    from pdfgc.preprocess.discover import discover_videos
    from pdfgc.preprocess.pack import pending_videos
    from pdfgc.preprocess.shard_worker import process_video
    from tests.helpers.media import tiny_config
    cfg = tiny_config()
    out = sys.argv[2]
    specs = pending_videos(discover_videos(sys.argv[1]), out, cfg)
    print(json.dumps({os.path.basename(s.source): process_video(s, cfg, out).reason or "ok" for s in specs}))
""")


def permission_cases(work: Path, base: Path) -> list[Row]:
    """Unreadable file and unlistable folder; as root, without CAP_DAC_OVERRIDE/CAP_DAC_READ_SEARCH
    (``setpriv``), since root reads anything."""
    folder = work / "perm"
    (folder / "closed" / "vid").mkdir(parents=True)
    (folder / "good.mp4").write_bytes(base.read_bytes())
    (folder / "locked.mp4").write_bytes(base.read_bytes())
    (folder / "closed" / "vid" / "00001.mp4").write_bytes(base.read_bytes())
    os.chmod(folder / "locked.mp4", 0)
    os.chmod(folder / "closed", 0)
    out = work / "perm-out"
    drop = "-dac_override,-dac_read_search"
    unprivileged = ["setpriv", f"--bounding-set={drop}", f"--inh-caps={drop}"] if os.geteuid() == 0 else []
    proc = run([*unprivileged, sys.executable, "-c", DROPPED, str(folder), str(out)], timeout=300)
    os.chmod(folder / "closed", 0o755)
    try:
        got = json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        got = {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "no output"}
    return [
        Row("bad input: no read permission", "`chmod 0 locked.mp4`, run without root's file capabilities", "quarantined as `permission_denied`",
            f"`{got.get('locked.mp4', got)}`", got.get("locked.mp4") == "permission_denied"),
        Row("bad input: unlistable folder", "`chmod 0 closed/`, run without root's file capabilities", "warning + quarantined as `unlistable_folder`",
            f"`{got.get('closed', got)}`", got.get("closed") == "unlistable_folder"),
        Row("bad input: good clip beside them", "`good.mp4` in the same folder", "processed", f"`{got.get('good.mp4')}`", got.get("good.mp4") == "ok"),
    ]


# --- kill -9 during preprocessing --------------------------------------------------------------

LOOP = textwrap.dedent("""
    import sys
    from pdfgc.preprocess.discover import discover_videos
    from pdfgc.preprocess.pack import pack_shards, pending_videos
    from pdfgc.preprocess.shard_worker import process_video
    from tests.helpers.media import tiny_config
    cfg = tiny_config()
    cfg.data.shard_target_mb = 0.01
    for spec in pending_videos(discover_videos(sys.argv[1]), sys.argv[2], cfg):
        pack_shards(sys.argv[2], cfg.data, [process_video(spec, cfg, sys.argv[2])])
    pack_shards(sys.argv[2], cfg.data, [])
""")


def kill_nine(work: Path, clips: Path, kills: int = 10) -> list[Row]:
    """The preprocessing steps (discover, process, pack after each video) killed with SIGKILL at
    ``kills`` random moments, then run to the end; the key set must equal an uninterrupted run's."""
    reference = work / "kill-ref"
    started = time.monotonic()
    run([sys.executable, "-c", LOOP, str(clips), str(reference)], check=True)
    span = time.monotonic() - started
    expected = sorted(shard_keys(reference))
    out = work / "kill-out"
    rng = random.Random(13)
    moments = []
    for _ in range(kills):
        delay = rng.uniform(1.0, span)
        proc = subprocess.Popen([sys.executable, "-c", LOOP, str(clips), str(out)], cwd=REPO_ROOT, env=ENV,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            proc.wait(timeout=delay)
            moments.append(f"{delay:.1f}s (finished first)")
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            moments.append(f"{delay:.1f}s")
    run([sys.executable, "-c", LOOP, str(clips), str(out)], check=True)
    keys = shard_keys(out)
    lost = sorted(set(expected) - set(keys))
    duplicated = len(keys) - len(set(keys))
    return [Row("kill -9 at 10 random points of preprocessing",
                f"SIGKILL after {', '.join(moments)} of a {span:.0f} s run over {len(list(clips.glob('*.mp4')))} clips, then a full run",
                f"same {len(expected)} keys as an uninterrupted run, 0 lost, 0 duplicated",
                f"{len(set(keys))} keys, {len(lost)} lost, {duplicated} duplicated, same set: {sorted(set(keys)) == expected}",
                sorted(set(keys)) == expected and duplicated == 0)]


# --- processes: sockets, orphans, a lost Dask worker, no-op ------------------------------------

def listening_at(pids: set[int]) -> set[str]:
    return {f"{ip}:{port}" for ip, port in listening(pids)}


def watch(proc: subprocess.Popen, until: Callable[[], bool] = lambda: False, every: float = 0.2) -> tuple[set[str], dict[str, int]]:
    """Listening sockets of the process tree, sampled until it ends or ``until()``; and the pids by role."""
    sockets: set[str] = set()
    roles: dict[str, int] = {}
    while proc.poll() is None and not until():
        processes = family(proc.pid)
        sockets |= listening_at({p.pid for p in processes})
        for p in processes:
            line = " ".join(cmdline(p))
            if "uvicorn" in line:
                roles["prefect_server"] = p.pid
            elif "spawn_main" in line:
                roles.setdefault("dask_worker", p.pid)
            elif "torch.distributed.run" in line or "torchrun" in line:
                roles["torchrun"] = p.pid
        time.sleep(every)
    return sockets, roles


def not_loopback(sockets: set[str]) -> list[str]:
    return sorted(s for s in sockets if s.rsplit(":", 1)[0] not in LOOPBACK)


def preprocess_processes(work: Path, clips: Path) -> list[Row]:
    rows = []
    out = work / "proc-out"
    command = [*CLI, "preprocess", str(clips), "--out", str(out), *PREPROCESS_SET]
    proc = subprocess.Popen(command, cwd=REPO_ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    killed = {"done": False}

    def kill_a_worker() -> bool:
        if killed["done"] or not list((out / "_staging").glob("*.json")):
            return False
        workers = [p for p in family(proc.pid) if "spawn_main" in " ".join(cmdline(p))]
        if workers:
            workers[0].kill()
            killed["done"] = True
        return False

    sockets, roles = watch(proc, kill_a_worker)
    output = proc.stdout.read()
    keys = shard_keys(out)
    rows.append(Row("listening sockets: `pdfgc preprocess`", "every LISTEN socket of the process tree (Prefect temporary server, Dask LocalCluster) sampled every 0.2 s",
                    "loopback only", ", ".join(sorted(sockets)) or "none", not not_loopback(sockets)))
    rows.append(Row("Dask worker lost", "SIGKILL to one LocalCluster worker process once the first video is staged",
                    "the run finishes, every video packed", f"killed: {killed['done']}, exit {proc.returncode}, {len(set(keys))} keys",
                    killed["done"] and proc.returncode == 0 and len(set(keys)) == len(keys) > 0))
    started = time.monotonic()
    again = run(command)
    seconds = time.monotonic() - started
    rows.append(Row("no-op re-run", "the same `pdfgc preprocess` again, nothing new", "exit 0 in under 5 s, no engine started",
                    f"exit {again.returncode} in {seconds:.1f} s", again.returncode == 0 and seconds < 5 and "nothing to do" in again.stdout))
    rows.append(orphan_case(work, clips))
    del output
    return rows


def orphan_case(work: Path, clips: Path) -> Row:
    out = work / "orphan-out"
    proc = subprocess.Popen([*CLI, "preprocess", str(clips), "--out", str(out), *PREPROCESS_SET], cwd=REPO_ROOT, env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, roles = watch(proc, lambda: bool(list((out / "_staging").glob("*"))))
    server = roles.get("prefect_server")
    children = [p.pid for p in family(proc.pid)[1:]]
    proc.kill()
    proc.wait()
    left = survivors(children, 15)
    return Row("orphans after kill -9 of `pdfgc preprocess`", "SIGKILL to the CLI while it processes (Prefect server pid "
               f"{server}, {len(children)} child processes)", "every child gone within 15 s",
               f"{len(left)} left after 15 s", server is not None and not left)


# --- disk full ---------------------------------------------------------------------------------

def disk_full(work: Path, clips: Path) -> list[Row]:
    """``pdfgc preprocess`` into a tmpfs too small for the shards beside the staged videos, then
    the same run after the tmpfs has grown."""
    reference = work / "full-ref"
    run([*CLI, "preprocess", str(clips), "--out", str(reference), *PREPROCESS_SET], check=True)
    expected = sorted(shard_keys(reference))
    shard_bytes = sum(p.stat().st_size for p in reference.glob("pdfgc-*.tar"))
    mount = work / "full"
    mount.mkdir()
    size = int(shard_bytes * 1.5) + 64 * 1024
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)], capture_output=True, text=True)
    if mounted.returncode != 0:
        return [Row("disk full during a shard write", "a tmpfs too small for shards", "one clear error", f"not run: {mounted.stderr.strip()}", False)]
    try:
        first = run([*CLI, "preprocess", str(clips), "--out", str(mount / "out"), *PREPROCESS_SET])
        last = (first.stderr.strip().splitlines() or [""])[-1]
        subprocess.run(["mount", "-o", f"remount,size={size * 4}", str(mount)], check=True)
        second = run([*CLI, "preprocess", str(clips), "--out", str(mount / "out"), *PREPROCESS_SET])
        keys = shard_keys(mount / "out")
        quarantine = mount / "out" / "quarantine.parquet"
        quarantined = len(pd.read_parquet(quarantine)) if quarantine.exists() else 0
    finally:
        subprocess.run(["umount", str(mount)], check=False)
    return [
        Row("disk full during a shard write", f"`pdfgc preprocess` into a {size // 1024} KiB tmpfs (shards need {shard_bytes // 1024} KiB beside the staging)",
            "exit 2 with one line `... no space left ...`, no traceback", f"exit {first.returncode}, {_error_lines(first.stderr)} error line(s): `{last[:200]}`",
            first.returncode == 2 and "no space left" in last and "Traceback" not in first.stderr
            and _error_lines(first.stderr) == 1),
        Row("disk full: the next run", "the tmpfs grown 4x, the same command again", "every video packed, none quarantined, same keys",
            f"exit {second.returncode}, {len(keys)} keys (same: {sorted(keys) == expected}), {quarantined} quarantined",
            second.returncode == 0 and sorted(keys) == expected and quarantined == 0),
    ]


def _error_lines(stderr: str) -> int:
    return sum("error" in line.lower() for line in stderr.replace("\r", "\n").splitlines())


# --- hostile shards ----------------------------------------------------------------------------

def hostile_shards(work: Path) -> list[Row]:
    import numpy as np

    from pdfgc.config import load_config
    from pdfgc.errors import PdfgcError
    from pdfgc.media.image import read_image as read_image_file
    from pdfgc.train.reader.loader import build_loader
    from pdfgc.train.reader.splits import select_split
    from tests.helpers.hostile import pax_huge_size_tar, png_header, sparse_member_tar, with_jpeg_size
    from tests.helpers.shards import _clip_members, write_tar

    cfg = load_config("tiny", ["train.shuffle_buffer=1"])
    train_split = select_split([str(work / "none.tar")], "train", cfg.split)
    key = next(k for k in (f"clip{i:03d}" for i in range(50)) if train_split.contains(k))
    members = _clip_members(key, 0, 4, 64)
    offsets = np.load(io.BytesIO(members["frame_offsets.npy"]))
    frames = [with_jpeg_size(members["frames.mjpeg"][a:b], 65500, 65500) for a, b in zip(offsets[:-1], offsets[1:])]
    cases = {
        "GNU sparse member claiming 2 GiB": (work / "sparse.tar", sparse_member_tar()),
        "PAX header with size 10^13": (work / "pax.tar", pax_huge_size_tar()),
        "JPEG frame whose header says 65500 x 65500": (work / "jpeg.tar", None),
    }
    write_tar(work / "jpeg.tar", {key: {**members, "frames.mjpeg": b"".join(frames)}})
    rows = []
    for name, (path, data) in cases.items():
        if data is not None:
            path.write_bytes(data)
        rows.append(_refused(name, path, lambda p=path: list(build_loader(str(p), "critic", cfg, 0, 1, 0, num_batches=1)), PdfgcError))
    rows.append(_unsafe_name_case(work, key, members, cfg))
    rows.append(_truncated_case(work, key, members))
    png = work / "huge.png"
    png.write_bytes(png_header(10000, 10000))
    rows.append(_refused("PNG portrait of 10000 x 10000", png, lambda: read_image_file(png, cfg.limits.max_image_pixels), PdfgcError))
    return rows


def _unsafe_name_case(work: Path, key: str, members: dict, cfg) -> Row:
    import tarfile

    from pdfgc.errors import UnsafeShardError
    from pdfgc.train.reader.loader import build_loader
    from tests.helpers.shards import write_tar

    shard = write_tar(work / "noext.tar", {key: members})
    with tarfile.open(shard, "a") as tar:
        info = tarfile.TarInfo("../../etc/passwd")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    return _refused("member `../../etc/passwd` (no extension)", shard,
                    lambda: list(build_loader(str(shard), "critic", cfg, 0, 1, 0, num_batches=1)), UnsafeShardError)


def _truncated_case(work: Path, key: str, members: dict) -> Row:
    import logging

    from pdfgc.train.reader.tarstream import iter_regular_members
    from tests.helpers.shards import write_tar

    whole = write_tar(work / "whole.tar", {key: members}).read_bytes()
    end = len(whole.rstrip(b"\0"))
    cut = work / "cut.tar"
    cut.write_bytes(whole[: end + (-end) % 512])
    records: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: records.append(record.getMessage())
    logging.getLogger("pdfgc.train.reader.tarstream").addHandler(handler)
    with open(cut, "rb") as stream:
        names = [name for name, _ in iter_regular_members(stream, 8 << 20, str(cut))]
    warned = [r for r in records if "end-of-archive" in r]
    return Row("hostile: shard cut on a block boundary", f"a shard without its end-of-archive blocks ({cut.stat().st_size} B)",
               "its members read, with a warning naming the shard", f"{len(names)} members, warning: `{warned[0][:120] if warned else 'none'}`",
               len(names) == len(members) and bool(warned) and str(cut) in warned[0])


def _refused(name: str, path: Path, action: Callable[[], object], error: type[Exception]) -> Row:
    peak_before = _peak_rss_mb()
    try:
        action()
        observed, ok = "read without error", False
    except error as exc:
        text = str(exc)
        observed, ok = f"`{type(exc).__name__}: {text[:150]}`", path.name in text
    grown = _peak_rss_mb() - peak_before
    return Row(f"hostile: {name}", f"{path.stat().st_size} B file read by the trainer's reader",
               "refused before allocating, error names the file (and member)", f"{observed}; peak RSS +{grown:.0f} MB",
               ok and grown < 200)


def _peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- training ----------------------------------------------------------------------------------

def training(work: Path) -> list[Row]:
    started = time.monotonic()
    proc = run([sys.executable, "-m", "pytest", "-q", "-m", "e2e", "-p", "no:cacheprovider",
                "tests/e2e/test_train_ddp.py::test_a_killed_rank_resumes_to_the_uninterrupted_losses"], timeout=900)
    last = (proc.stdout.strip().splitlines() or [""])[-1]
    rows = [Row("training rank killed, then resumed", "SIGKILL to rank 1 of `torchrun --nproc 2` after a checkpoint, then the same "
                f"command (tests/e2e/test_train_ddp.py, {time.monotonic() - started:.0f} s)",
                "the resumed run logs the uninterrupted run's loss at every step", f"`{last}`", proc.returncode == 0)]
    from tests.helpers.shards import write_test_shards

    shards = work / "train-shards"
    write_test_shards(shards, n_clips=4, frames=12, crop_size=96)
    command = [*CLI, "train", "--shards", str(shards), "--stage", "critic", "--preset", "tiny", "--nproc", "2",
               "--max-steps", "4", "--out", str(work / "train-run")]
    proc2 = subprocess.Popen(command, cwd=REPO_ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sockets, _ = watch(proc2, every=0.1)
    rows.append(Row("listening sockets: `pdfgc train --nproc 2`", "every LISTEN socket of the process tree (torchrun rendezvous, ranks) sampled every 0.1 s",
                    "loopback only", ", ".join(sorted(sockets)) or "none", bool(sockets) and not not_loopback(sockets)))
    rows.append(mlflow_server_sockets(work))
    return rows


def mlflow_server_sockets(work: Path) -> Row:
    from tests.e2e.conftest import free_port  # the e2e suite's own helper

    port = free_port()
    home = work / "mlflow-server"
    home.mkdir()
    proc = subprocess.Popen([str(Path(sys.executable).parent / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port),
                             "--workers", "1", "--backend-store-uri", f"sqlite:///{home / 'mlflow.db'}",
                             "--artifacts-destination", str(home / "art")],
                            cwd=home, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 180
    sockets: set[str] = set()
    while time.monotonic() < deadline and str(port) not in " ".join(sockets) and proc.poll() is None:
        sockets |= listening_at({p.pid for p in family(proc.pid)})
        time.sleep(0.5)
    for p in reversed(family(proc.pid)):
        p.kill()
    proc.wait()
    return Row("listening sockets: `mlflow server` as the docs start it", "`mlflow server --host 127.0.0.1` (docs/OPERATIONS.md, the e2e tests)",
               "loopback only", ", ".join(sorted(sockets)) or "none", bool(sockets) and not not_loopback(sockets))


# --- the document ------------------------------------------------------------------------------

def write_doc(rows: list[Row], seconds: float) -> None:
    agree = sum(r.ok for r in rows)
    lines = [
        "# Reliability: the fault suite",
        "",
        "Regenerated by `.venv/bin/python bench/faults.py` (real ffmpeg, `pdfgc preprocess` with Prefect's",
        "temporary server and a Dask LocalCluster, torchrun, mlflow; inputs cut from the real sample clips).",
        f"Last run: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {seconds / 60:.1f} min on {os.cpu_count()} cores;",
        f"**{agree} of {len(rows)} cases as expected.**",
        "",
        "| case | what was done | expected | observed | as expected |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        cells = [c.replace("|", "\\|").replace("\n", " ") for c in (r.case, r.done, r.expected, r.observed)]
        lines.append(f"| {' | '.join(cells)} | {'yes' if r.ok else '**no**'} |")
    lines += ["", "Unit tests reproduce each defect of the reliability issue on its own (docs/OPERATIONS.md,",
              "\"Failure handling\", lists them)."]
    DOC.write_text("\n".join(lines) + "\n")


GROUPS = ("inputs", "kill", "processes", "disk", "hostile", "training")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(GROUPS), help=f"comma-separated subset of {', '.join(GROUPS)}")
    parser.add_argument("--no-doc", action="store_true", help="print the table, leave docs/RELIABILITY.md alone")
    args = parser.parse_args()
    chosen = set(args.only.split(","))
    samples = find_samples(SHARED)
    started = time.monotonic()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="pdfgc-faults-") as tmp:
        work = Path(tmp)
        videos = sorted((samples / "videos").glob("*.mp4"))
        base = cut_clip(videos[0], work / "base.mp4", seconds=1.6)
        clips = work / "clips"
        clips.mkdir()
        for index, start in enumerate((0.0, 2.0, 4.0)):
            cut_clip(videos[0], clips / f"katie{index}.mp4", seconds=1.2, start=start)
        cut_clip(videos[1], clips / "retalk.mp4", seconds=1.2)
        steps = {"inputs": lambda: bad_inputs(work, base), "kill": lambda: kill_nine(work, clips),
                 "processes": lambda: preprocess_processes(work, clips), "disk": lambda: disk_full(work, clips),
                 "hostile": lambda: hostile_shards(work), "training": lambda: training(work)}
        for name in GROUPS:
            if name in chosen:
                print(f"faults: {name} ...", flush=True)
                rows += steps[name]()
    for r in rows:
        print(f"{'ok ' if r.ok else 'NO '} {r.case}: {r.observed}")
    if not args.no_doc:
        write_doc(rows, time.monotonic() - started)
        print(f"wrote {DOC}")
    return 0 if all(r.ok for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
