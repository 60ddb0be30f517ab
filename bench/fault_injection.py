"""Fault injection for `thresher run`: kill a run at a random moment, damage what it had
published, rerun, and check the outputs against an uninterrupted reference run.

    python bench/fault_injection.py --trials N [--corpus-mb 25] [--seed S] [--out DIR]
                                    [--concurrent K] [--minutes M] [--append]

Method
------
1. Build one corpus (JSONL.gz from bench/common.py's `make_corpus`, real text from
   ../shared/corpora when present) and one config with the score and shards stages on: the
   demo's fastText scorer and byte-level BPE (flows/demo_models.py, trained once on the demo
   corpus), keep_top_chars 0.5, shard_tokens sized for about six shards.
2. One uninterrupted reference run (`thresher run --input ... --config CFG --run-id r`);
   every output file's bytes are hashed (*.parquet, *.bin, *.idx, blend.txt/json; not
   stats/ or run.json, which hold timings). Its wall time is the kill window.
3. Each trial, in a fresh --out with the same config and run id: start `thresher run` in
   its own session, SIGKILL the whole process group at a moment uniform over the reference
   duration, then (half of the trials) inject one fault into a file some finished stage
   published: delete it, truncate it to a random shorter length, flip one byte (same
   size), or copy a Parquet part to a stray `part-99999...` name in the same table
   directory. Rerun to completion and classify:
     identical           rerun exit 0, every output byte-identical, `thresher verify` exit 0
     loud failure        rerun exit non-zero; a second rerun is tried and recorded
     flip caught only by verify
                         a same-size flip the cheap resume check (sizes, Parquet footers)
                         cannot see: the rerun exits 0 with the damaged file, verify's
                         checksums catch it; one more `thresher run` is tried, as verify's
                         message advises, and recorded (repaired or not)
     wrong               exit 0 but outputs differ, or verify fails after an exit-0 rerun
     hang                a rerun ran past its time limit (10x the reference + 2 min)
   The running stage at the kill is the first stage (in run order) without a
   stats/<stage>.json; "startup" is before the run directory exists (imports, Prefect's
   temporary server, the lock), "after last stage" is the flow's end and the teardown.
   Processes a run leaves behind (found by a per-trial environment tag, so only this
   script's own) are counted and killed.
4. `--concurrent K`: K trials where two `thresher run` into the same --out/--run-id start at
   once; one should exit 0 and the other exit 1 with one line "... is being written by
   PID ..."; the outputs are then compared with the reference.
5. Prints markdown tables (by fault kind, by kill stage, concurrency) and writes them with
   the command line, machine notes and date to bench/results/fault_injection.md (--append
   adds a section instead of replacing the file). Trial directories are deleted when the
   outcome is `identical` and kept otherwise (with their logs) for reproduction; every
   trial's record is in <out>/trials.jsonl.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from common import make_corpus  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "fault_injection.md"
RUN_ID = "r"
OUTPUT_SUFFIXES = {".parquet", ".bin", ".idx"}
OUTPUT_NAMES = {"blend.txt", "blend.json"}
FAULTS = ("delete", "truncate", "flip", "stray")
TAG = "THRESHER_FAULT_TRIAL"  # environment tag: finds the processes a trial started
OUTCOMES = ("identical", "loud failure", "flip caught only by verify", "wrong", "hang")
LOCK_MESSAGE = "is being written by PID"


# --- setup -------------------------------------------------------------------------------


def thresher_exe() -> str:
    """The console script of the interpreter running this file (the project's venv)."""
    exe = Path(sys.executable).parent / "thresher"
    return str(exe) if exe.exists() else (shutil.which("thresher") or "thresher")


def build_inputs(work: Path, corpus_mb: float) -> tuple[list[str], Path, dict]:
    """The corpus and the run config, built once per campaign."""
    from thresher.flows.demo import write_demo_corpus
    from thresher.flows.demo_models import demo_score_settings, demo_shards_settings

    # make_corpus writes docs of 2-4 KB of text, about 3.8 KB of JSONL each (escapes)
    n_docs = max(200, int(corpus_mb * 1e6 / 3800))
    files, nbytes = make_corpus(work / "corpus", n_docs, files=8, seed=1, gz=True)
    demo_dir = work / "demo-input"
    write_demo_corpus(demo_dir)
    score = {**demo_score_settings(work, demo_dir), "keep_top_chars": 0.5}
    # the demo's 4k BPE gives ~0.6 tokens per JSONL byte on this multilingual text and
    # about half is kept: aim for about six shards, so a shard set has several files to damage
    shard_tokens = max(10_000, int(nbytes * 0.3 / 6))
    shards = {**demo_shards_settings(work, demo_dir), "shard_tokens": shard_tokens}
    config = work / "config.json"
    config.write_text(json.dumps({"score": score, "shards": shards}, indent=1))
    info = {
        "docs": n_docs,
        "text_bytes": nbytes,
        "files": len(files),
        "shard_tokens": shard_tokens,
        "source": corpus_source(),
    }
    return files, config, info


def corpus_source() -> str:
    from common import SHARED

    return "../shared/corpora (real text)" if SHARED.is_dir() else "generated words"


# --- processes ---------------------------------------------------------------------------


def start(cmd: list[str], log: Path, tag: str) -> subprocess.Popen:
    """A `thresher` process in its own session (so one killpg reaches all it started)."""
    env = {**os.environ, TAG: tag, "PYTHONWARNINGS": "ignore"}
    with log.open("w") as f:
        return subprocess.Popen(
            cmd,
            stdout=f,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            cwd=str(log.parent),
        )


def tagged_pids(tag: str) -> list[int]:
    """This script's processes carrying `tag` in their environment (any session: a child
    that called setsid would escape killpg but not this)."""
    needle = f"{TAG}={tag}".encode()
    found = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            if needle in (d / "environ").read_bytes().split(b"\0"):
                found.append(int(d.name))
        except OSError:  # gone, or not ours to read
            continue
    return found


def reap_leftovers(tag: str) -> int:
    """Kill (by pid) whatever a finished or killed run left running; returns how many."""
    pids = [p for p in tagged_pids(tag) if p != os.getpid()]
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):  # exited meanwhile
            os.kill(pid, signal.SIGKILL)
    return len(pids)


def run_to_end(cmd: list[str], log: Path, tag: str, limit: float) -> tuple[int | None, float]:
    """(exit code or None on timeout, seconds)."""
    t = time.time()
    proc = start(cmd, log, tag)
    try:
        rc = proc.wait(timeout=limit)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        rc = None
    return rc, time.time() - t


def run_cmd(inputs: list[str], out: Path, config: Path) -> list[str]:
    cmd = [thresher_exe(), "run"]
    for f in inputs:
        cmd += ["--input", f]
    return [*cmd, "--out", str(out), "--config", str(config), "--run-id", RUN_ID]


def verify(run_dir: Path, log: Path, tag: str) -> int:
    rc, _ = run_to_end([thresher_exe(), "verify", str(run_dir)], log, tag, 600)
    return -1 if rc is None else rc


def code_state() -> str:
    """HEAD plus a hash of uncommitted changes to the code under test: a campaign on a
    working tree that others edit meanwhile marks the trials that ran on other code."""

    def git(*a):
        return subprocess.run(["git", "-C", str(ROOT), *a], capture_output=True).stdout

    paths = ["pipelines", "flows", "scorers", "thresher", "pyproject.toml"]
    diff = git("diff", "HEAD", "--", *paths)
    return (
        git("rev-parse", "--short", "HEAD").decode().strip()
        + "+"
        + (hashlib.blake2b(diff, digest_size=4).hexdigest() if diff else "clean")
    )


# --- outputs -----------------------------------------------------------------------------


def output_files(run_dir: Path) -> dict[str, str]:
    """{run-relative path: blake2b} of every output file outside .staging (hashed here,
    independently of the xxh3 record the tool keeps)."""
    found = {}
    for p in sorted(run_dir.rglob("*")):
        rel = p.relative_to(run_dir)
        if not p.is_file() or rel.parts[0] == ".staging":
            continue
        if p.suffix in OUTPUT_SUFFIXES or p.name in OUTPUT_NAMES:
            h = hashlib.blake2b(digest_size=16)
            with p.open("rb") as f:
                while block := f.read(8 << 20):
                    h.update(block)
            found[str(rel)] = h.hexdigest()
    return found


def staging_leftovers(run_dir: Path) -> int:
    staging = run_dir / ".staging"
    return sum(1 for p in staging.rglob("*") if p.is_file()) if staging.is_dir() else 0


def differences(ref: dict[str, str], got: dict[str, str]) -> list[str]:
    diff = [f"missing {n}" for n in sorted(set(ref) - set(got))]
    diff += [f"extra {n}" for n in sorted(set(got) - set(ref))]
    diff += [f"differs {n}" for n in sorted(set(ref) & set(got)) if ref[n] != got[n]]
    return diff


def stage_order(run_dir: Path) -> list[str]:
    """The reference run's stages in run order (the project's stage list; stats files'
    finish times have one-second resolution, too coarse to order by)."""
    from thresher.pipelines.stages import STAGES

    done = {p.stem for p in (run_dir / "stats").glob("*.json")}
    return [s.name for s in STAGES if s.name in done]


def running_stage(run_dir: Path, order: list[str]) -> str:
    """The stage a kill interrupted: the first one without its stats file."""
    if not run_dir.is_dir():  # created when the run takes its lock, before the first stage
        return "startup"
    done = {p.stem for p in (run_dir / "stats").glob("*.json")}
    return next((s for s in order if s not in done), "after last stage")


def published_files(run_dir: Path) -> list[str]:
    """Files the finished stages recorded as published and that exist now."""
    names = []
    for p in sorted((run_dir / "stats").glob("*.json")) if (run_dir / "stats").is_dir() else []:
        try:
            names += sorted(json.loads(p.read_text()).get("outputs") or {})
        except ValueError:  # not expected: stats files are written atomically
            continue
    return [n for n in names if (run_dir / n).is_file()]


def inject(run_dir: Path, rng: random.Random) -> dict:
    """One random fault in one published file; what was done, for the report."""
    files = published_files(run_dir)
    if not files:
        return {"kind": "none possible"}
    kind = rng.choice(FAULTS)
    if kind == "stray":
        parts = [f for f in files if f.endswith(".parquet") and Path(f).name.startswith("part-")]
        if not parts:
            return {"kind": "none possible"}
        src = Path(rng.choice(parts))
        # same pattern as a real part (part-NNNNN[-CCCCC].parquet) so globs pick it up
        stray = src.with_name("part-99999" + src.name[len("part-00000") :])
        shutil.copyfile(run_dir / src, run_dir / stray)
        return {"kind": kind, "file": str(stray), "copy_of": str(src)}
    name = rng.choice(files)
    path = run_dir / name
    size = path.stat().st_size
    if kind in ("truncate", "flip") and size == 0:
        kind = "delete"  # nothing to cut or flip in an empty file
    if kind == "delete":
        path.unlink()
        return {"kind": kind, "file": name, "bytes": size}
    if kind == "truncate":
        length = rng.randrange(size)
        os.truncate(path, length)
        return {"kind": kind, "file": name, "bytes": size, "to": length}
    offset, mask = rng.randrange(size), rng.randint(1, 255)
    with path.open("r+b") as f:  # in place: a hard link to this file sees it too
        f.seek(offset)
        byte = f.read(1)[0]
        f.seek(offset)
        f.write(bytes([byte ^ mask]))
    return {"kind": kind, "file": name, "bytes": size, "offset": offset, "mask": mask}


def last_error(log: Path) -> dict:
    text = log.read_text(errors="replace") if log.exists() else ""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("thresher: error:")]
    return {
        "error": (errors or lines or [""])[-1][:400],
        "traceback": "Traceback" in text,
        "detected": [ln[:200] for ln in lines if "running the stage again" in ln],
    }


# --- trials ------------------------------------------------------------------------------


class Campaign:
    def __init__(self, args, work: Path, inputs: list[str], config: Path):
        self.args, self.work, self.inputs, self.config = args, work, inputs, config
        self.ref: dict[str, str] = {}
        self.ref_seconds = 0.0
        self.order: list[str] = []
        self.code = code_state()
        self.log = (work / "trials.jsonl").open("a")

    def limit(self) -> float:
        return 10 * self.ref_seconds + 120

    def reference(self) -> dict:
        out = self.work / "reference"
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        tag = f"ref-{os.getpid()}"  # unique: campaigns may run side by side
        rc, seconds = run_to_end(run_cmd(self.inputs, out, self.config), out / "run.log", tag, 3600)
        leaked = reap_leftovers(tag)
        if rc != 0:
            sys.exit(f"reference run failed (exit {rc}); see {out / 'run.log'}")
        run_dir = out / "runs" / RUN_ID
        self.ref, self.ref_seconds = output_files(run_dir), seconds
        self.order = stage_order(run_dir)
        shards = json.loads((run_dir / "stats" / "shards.json").read_text())
        flow = json.loads((run_dir / "run.json").read_text()).get("seconds")
        return {
            "seconds": round(seconds, 1),
            "flow_seconds": flow,
            "files": len(self.ref),
            "leaked": leaked,
            "bytes": sum((run_dir / n).stat().st_size for n in self.ref),
            "stages": self.order,
            "shards": shards.get("shards"),
            "tokens": shards.get("tokens"),
        }

    def settle(self, rec: dict, out: Path, tag: str) -> None:
        """Compare a finished run with the reference and verify it; sets rec's outcome."""
        run_dir = out / "runs" / RUN_ID
        found = output_files(run_dir) if run_dir.is_dir() else {}
        rec["diff"] = differences(self.ref, found)
        rec["staging_left"] = staging_leftovers(run_dir) if run_dir.is_dir() else 0
        rec["verify_rc"] = verify(run_dir, out / "verify.log", tag)
        rec["leaked"] = rec.get("leaked", 0) + reap_leftovers(tag)
        if rec["diff"] or rec["verify_rc"] != 0:
            rec["outcome"] = "wrong"
            if rec.get("fault", {}).get("kind") == "flip" and rec["verify_rc"] != 0:
                rec["outcome"] = "flip caught only by verify"
        else:
            rec["outcome"] = "identical"

    def trial(self, n: int) -> dict:
        rng = random.Random(f"{self.args.seed}:{n}")  # each trial's choices reproducible
        out = self.work / "trials" / f"t{n:04d}"
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        tag, t0 = f"{self.args.seed}-{n}-{os.getpid()}", time.time()
        cmd = run_cmd(self.inputs, out, self.config)
        run_dir = out / "runs" / RUN_ID
        kill_at = rng.uniform(0, self.ref_seconds)
        inject_fault = rng.random() < self.args.fault_share
        rec: dict = {"trial": n, "kill_at": round(kill_at, 2)}
        proc = start(cmd, out / "killed.log", tag)
        try:
            rec["first_rc"] = proc.wait(timeout=kill_at)  # finished before the kill moment
            rec["stage"] = "finished before kill"
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            rec["stage"] = running_stage(run_dir, self.order)
        rec["leaked"] = reap_leftovers(tag)  # e.g. a server that left the process group
        rec["fault"] = inject(run_dir, rng) if inject_fault else {"kind": "none"}

        rc, secs = run_to_end(cmd, out / "rerun.log", tag, self.limit())
        rec.update(rerun_rc=rc, rerun_s=round(secs, 1), **last_error(out / "rerun.log"))
        if rc == 0:
            del rec["error"]  # the last line of a successful run is its summary
        if rc is None:
            rec["outcome"] = "hang"
        elif rc != 0:
            rec["outcome"] = "loud failure"
            rc2, _ = run_to_end(cmd, out / "rerun2.log", tag, self.limit())
            second: dict = {"rerun2_rc": rc2}
            if rc2 == 0:
                self.settle(second, out, tag)
            rec["recovered"] = rc2 == 0 and second.get("outcome") == "identical"
            rec["second"] = second
        else:
            self.settle(rec, out, tag)
            if rec["outcome"] == "flip caught only by verify":
                # verify's message says a rerun redoes the stages whose outputs differ:
                # check whether it does for a damage the cheap resume check cannot see
                rc3, _ = run_to_end(cmd, out / "rerun3.log", tag, self.limit())
                after: dict = {"rerun3_rc": rc3}
                if rc3 == 0:
                    self.settle(after, out, tag)
                rec["repaired_by_rerun"] = after.get("outcome") == "identical"
        self.stamp(rec, t0)
        self.keep_or_drop(rec, out)
        return rec

    def stamp(self, rec: dict, t0: float) -> None:
        rec["seconds"] = round(time.time() - t0, 1)
        rec["started"] = time.strftime("%H:%M:%S", time.gmtime(t0))
        now = code_state()
        if now != self.code:  # the tree changed since the reference: not a like-for-like trial
            rec["code_changed"] = now

    def concurrent(self, n: int) -> dict:
        out = self.work / "concurrent" / f"c{n:03d}"
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        tag, t0 = f"{self.args.seed}-c{n}-{os.getpid()}", time.time()
        cmd = run_cmd(self.inputs, out, self.config)
        procs = [start(cmd, out / f"writer{i}.log", tag) for i in range(2)]
        rcs = []
        for p in procs:
            try:
                rcs.append(p.wait(timeout=self.limit()))
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
                rcs.append(None)
        rec: dict = {"trial": n, "rcs": rcs, "leaked": reap_leftovers(tag)}
        loser = [i for i, rc in enumerate(rcs) if rc == 1]
        if sorted(rcs, key=str) == [0, 1]:
            text = (out / f"writer{loser[0]}.log").read_text(errors="replace")
            lines = [ln for ln in text.splitlines() if ln.strip()]
            named = any(LOCK_MESSAGE in ln for ln in lines)
            rec["lock"] = "one locked out" if named else "exit 1, other error"
            rec["loser_lines"] = len(lines)
            rec["loser_message"] = (lines or [""])[-1][:300]
        elif rcs == [0, 0]:
            rec["lock"] = "both exit 0 (not overlapping)"
        else:
            rec["lock"] = "unexpected exits"
        self.settle(rec, out, tag)
        self.stamp(rec, t0)
        self.keep_or_drop(rec, out)
        return rec

    def keep_or_drop(self, rec: dict, out: Path) -> None:
        """Identical trials leave nothing behind; others keep their directory and logs."""
        ok = rec["outcome"] == "identical" and rec.get("lock", "one locked out") == "one locked out"
        if ok and not self.args.keep:
            shutil.rmtree(out, ignore_errors=True)
        else:
            rec["kept_dir"] = str(out)
        self.log.write(json.dumps(rec) + "\n")
        self.log.flush()


# --- report ------------------------------------------------------------------------------


def outcome_of(rec: dict) -> str:
    if rec["outcome"] == "loud failure":
        return "loud failure, recovered" if rec.get("recovered") else "loud failure, not recovered"
    return rec["outcome"]


COLUMNS = (
    "identical",
    "loud failure, recovered",
    "loud failure, not recovered",
    "flip caught only by verify",
    "wrong",
    "hang",
)


def grouped_table(records: list[dict], key, title: str, order: list[str]) -> list[str]:
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in records:
        groups[key(r)].append(r)
    names = [g for g in order if g in groups] + sorted(g for g in groups if g not in order)
    lines = [
        f"| {title} | trials | " + " | ".join(COLUMNS) + " | rerun logged damage | mean s |",
        "|---|---:|" + "---:|" * len(COLUMNS) + "---:|---:|",
    ]
    for name in [*names, "**all**"]:
        rs = records if name == "**all**" else groups[name]
        if not rs:
            continue
        c = Counter(outcome_of(r) for r in rs)
        mean = sum(r["seconds"] for r in rs) / len(rs)
        noticed = sum(1 for r in rs if r.get("detected"))  # "running the stage again"
        lines.append(
            f"| {name} | {len(rs)} | "
            + " | ".join(str(c[o]) for o in COLUMNS)
            + f" | {noticed} | {mean:.1f} |"
        )
    return lines


def report(
    camp: Campaign,
    ref: dict,
    info: dict,
    trials: list[dict],
    conc: list[dict],
    started: float,
    load: tuple,
) -> str:
    a = camp.args
    cmdline = "python bench/fault_injection.py " + " ".join(sys.argv[1:])
    lines = [
        f"## `{cmdline}`",
        "",
        f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(started))}; "
        f"wall time {(time.time() - started) / 60:.1f} min.",
        f"Machine: {platform.node() or '?'}, {os.cpu_count()} cores "
        f"({platform.processor() or platform.machine()}), Python {platform.python_version()}; "
        f"load average at start {load[0]:.2f}, at end {os.getloadavg()[0]:.2f} "
        "(the machine may be shared with other jobs: seconds are indicative).",
        f"Corpus: {info['docs']:,} documents, {info['text_bytes'] / 1e6:.1f} MB of JSONL in "
        f"{info['files']} gzipped files, from {info['source']}. Config: demo fastText scorer "
        f"with keep_top_chars 0.5; demo 4k BPE, shard_tokens {info['shard_tokens']:,}.",
        f"Reference run: {ref['seconds']} s of which {ref['flow_seconds']} s in the flow (the "
        "rest: imports, Prefect's temporary server, teardown), stages "
        f"{' -> '.join(ref['stages'])}; "
        f"{ref['files']} output files, {ref['bytes'] / 1e6:.1f} MB; {ref['shards']} shards, "
        f"{ref['tokens']:,} tokens. Kill moment uniform over [0, {ref['seconds']}] s; a fault "
        f"injected with probability {a.fault_share}; seed {a.seed}.",
        "",
    ]
    if trials:
        faults = Counter(r["fault"]["kind"] for r in trials)
        budget = (
            f" (of {a.trials} asked: the {a.minutes}-minute budget ran out)"
            if len(trials) < a.trials
            else ""
        )
        lines += [
            f"### Kill + rerun: {len(trials)} trials{budget}",
            "",
            "Faults injected: " + ", ".join(f"{k} {v}" for k, v in faults.most_common()) + ".",
            "",
            *grouped_table(
                trials, lambda r: r["fault"]["kind"], "fault", ["none", "none possible", *FAULTS]
            ),
            "",
            *grouped_table(
                trials,
                lambda r: r["stage"],
                "killed during",
                ["startup", *ref["stages"], "after last stage", "finished before kill"],
            ),
            "",
        ]
        detected = sum(1 for r in trials if r.get("detected"))
        leaked = sum(r.get("leaked", 0) for r in trials)
        staging = sum(1 for r in trials if r.get("staging_left"))
        lines += [
            f'Reruns that logged a damaged output ("running the stage again"): {detected}. '
            f"Processes left running after a kill or a run (killed by this script): "
            f"{leaked}. Trials with files left in .staging after the rerun: {staging}.",
            "",
        ]
        moved = [r for r in trials if r.get("code_changed")]
        if moved:
            lines += [
                f"Code under test changed during the campaign (reference on {camp.code}): "
                f"{len(moved)} trials ended on other code ("
                + ", ".join(sorted({r["code_changed"] for r in moved}))
                + "); their "
                "outcomes: "
                + ", ".join(f"{k} {v}" for k, v in Counter(outcome_of(r) for r in moved).items())
                + ".",
                "",
            ]
        flips = [r for r in trials if r["outcome"] == "flip caught only by verify"]
        if flips:
            fixed = sum(1 for r in flips if r.get("repaired_by_rerun"))
            lines += [
                f"Flips caught only by verify: {len(flips)}; one more `thresher run` (what "
                f"verify's message advises) made the outputs identical in {fixed}.",
                "",
            ]
        lines += details(
            [r for r in trials if outcome_of(r) not in ("identical", "loud failure, recovered")]
        )
        loud = [r for r in trials if r["outcome"] == "loud failure"]
        if loud:
            lines += [
                "Loud failures (rerun's last error line; all recovered on a second rerun "
                "unless listed above):",
                "",
            ]
            for r in loud:
                tb = " (with a traceback)" if r.get("traceback") else ""
                lines.append(
                    f"- t{r['trial']}: {r['fault']['kind']} {r['fault'].get('file', '')}"
                    f", exit {r['rerun_rc']}{tb}: `{r['error']}`"
                )
            lines.append("")
    if conc:
        c = Counter(r["lock"] for r in conc)
        o = Counter(r["outcome"] for r in conc)
        mean = sum(r["seconds"] for r in conc) / len(conc)
        lines += [
            f"### Two writers at once: {len(conc)} trials",
            "",
            "| trials | one exit 0, other exit 1 naming the holder | other "
            "| outputs identical + verify ok | wrong | mean s |",
            "|---:|---:|---:|---:|---:|---:|",
            f"| {len(conc)} | {c['one locked out']} | {len(conc) - c['one locked out']} | "
            f"{o['identical']} | {len(conc) - o['identical']} | {mean:.1f} |",
            "",
        ]
        sample = next((r for r in conc if r.get("loser_message")), None)
        if sample:
            lines += [
                f"Loser's output ({sample['loser_lines']} line(s)): `{sample['loser_message']}`",
                "",
            ]
        lines += details(
            [r for r in conc if r["outcome"] != "identical" or r["lock"] != "one locked out"]
        )
    return "\n".join(lines)


def details(bad: list[dict]) -> list[str]:
    if not bad:
        return []
    lines = ["Details of every trial that did not end identical (or recovered):", ""]
    for r in bad:
        shown = {k: v for k, v in r.items() if k not in ("trial", "detected", "traceback")}
        if len(r.get("diff", [])) > 4:  # the first few differing files say enough
            shown["diff"] = [*r["diff"][:4], f"... {len(r['diff'])} in all"]
        lines.append(f"- trial {r['trial']}: `{json.dumps(shown)}`")
    return [*lines, ""]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--trials", type=int, default=10, help="kill + rerun trials")
    p.add_argument(
        "--minutes",
        type=float,
        help="start no kill + rerun trial after this many "
        "minutes (the campaign's time budget; --concurrent trials still run)",
    )
    p.add_argument("--concurrent", type=int, default=0, help="two-writer trials")
    p.add_argument("--corpus-mb", type=float, default=25, help="MB of JSONL text")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="work directory (default: a new temporary one)")
    p.add_argument("--fault-share", type=float, default=0.5, help="share of trials with a fault")
    p.add_argument("--keep", action="store_true", help="keep identical trials' directories too")
    p.add_argument("--append", action="store_true", help=f"add a section to {RESULTS.name}")
    p.add_argument("--results", default=str(RESULTS), help="markdown file to write")
    args = p.parse_args()

    started, load = time.time(), os.getloadavg()
    work = Path(args.out or tempfile.mkdtemp(prefix="thresher-faults-")).resolve()
    work.mkdir(parents=True, exist_ok=True)
    # one Prefect home for the campaign: its database is created once, and is apart from
    # other jobs' (kills may leave it mid-write, as they would a user's)
    os.environ.setdefault("PREFECT_HOME", str(work / "prefect-home"))
    inputs, config, info = build_inputs(work, args.corpus_mb)
    camp = Campaign(args, work, inputs, config)
    ref = camp.reference()
    print(f"reference: {ref}", file=sys.stderr)

    trials, conc = [], []
    for n in range(args.trials):
        if args.minutes and time.time() - started > args.minutes * 60:
            print(f"time budget of {args.minutes} min spent after {n} trials", file=sys.stderr)
            break
        rec = camp.trial(n)
        trials.append(rec)
        print(
            f"trial {n}: {rec['stage']}, fault {rec['fault']['kind']}: {outcome_of(rec)} "
            f"({rec['seconds']} s)",
            file=sys.stderr,
        )
    for n in range(args.concurrent):
        rec = camp.concurrent(n)
        conc.append(rec)
        print(
            f"concurrent {n}: exits {rec['rcs']}, {rec['lock']}, {rec['outcome']} "
            f"({rec['seconds']} s)",
            file=sys.stderr,
        )

    section = report(camp, ref, info, trials, conc, started, load)
    print(section)
    results = Path(args.results)
    results.parent.mkdir(parents=True, exist_ok=True)
    if args.append and results.exists():
        results.write_text(results.read_text().rstrip("\n") + "\n\n" + section + "\n")
    else:
        results.write_text(
            "# Fault injection: kill, damage, rerun\n\nMethod: see the docstring "
            "of bench/fault_injection.py.\n\n" + section + "\n"
        )
    print(f"work directory: {work}", file=sys.stderr)
    bad = [r for r in trials if outcome_of(r) in ("wrong", "hang", "loud failure, not recovered")]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
