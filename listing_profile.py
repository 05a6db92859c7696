"""Profile the daemon during a listing: MODE=warm (second find -ls), fresh (first find -ls), stat (cold lstat of every file)."""
import cProfile, os, pstats, shutil, subprocess, sys, tempfile, time, io, collections, threading
from unionfs_lib.overlay import OverlayFS
from unionfs_lib.mount import daemon
PROFILE = os.environ.get("PROFILE")
MODE = os.environ.get("MODE", "warm")
RUNS = int(os.environ.get("RUNS", "3"))
REPS = int(os.environ.get("REPS", "5" if MODE == "warm" else "1"))
state = {}
real_serve = daemon.serve
def serve(*a, **k):
    state["tid"] = threading.get_native_id()
    if PROFILE:
        p = cProfile.Profile(); state["prof"] = p
        p.enable()
        try: return real_serve(*a, **k)
        finally: p.disable()
    return real_serve(*a, **k)
daemon.serve = serve
def thread_cpu():
    with open(f"/proc/self/task/{state['tid']}/schedstat") as f:
        return int(f.read().split()[0]) / 1e9
def stat_all(root):
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            os.lstat(os.path.join(dirpath, name))
def find_ls(root):
    subprocess.run("find . -ls >/dev/null", shell=True, cwd=root, check=True)
base = tempfile.mkdtemp(prefix="listing-")
lower = os.path.join(base, "lower")
for d in range(10):
    os.makedirs(os.path.join(lower, f"d{d}"))
    for i in range(500):
        with open(os.path.join(lower, f"d{d}", f"f{i}"), "w") as f: f.write("x")
daemon.tune_collector()
best = None
for run in range(RUNS):
    upper, work, mnt = (os.path.join(base, f"{n}{run}") for n in ("u", "w", "m"))
    for d in (upper, work, mnt): os.makedirs(d)
    m = daemon.mount_in_thread(OverlayFS.from_dirs([lower], upper, work), mnt)
    ops = m.operations
    if MODE == "warm":
        find_ls(mnt)
    if PROFILE and "prof" in state and run == RUNS - 1:
        pass
    before = collections.Counter(ops.requests); c0 = thread_cpu()
    t0 = time.perf_counter()
    for _ in range(REPS):
        (stat_all if MODE == "stat" else find_ls)(mnt)
    wall = time.perf_counter() - t0; c1 = thread_cpu()
    diff = collections.Counter(ops.requests); diff.subtract(before)
    print(f"{MODE} {run}: wall={wall:.3f}s daemon cpu={c1-c0:.3f}s ({(c1-c0)/5010/REPS*1e6:.1f} us/entry)", {k: v for k, v in diff.items() if v})
    m.unmount()
    final = state.get("prof")
if PROFILE:
    s = io.StringIO(); pstats.Stats(final, stream=s).sort_stats(PROFILE).print_stats(35); print(s.getvalue())
shutil.rmtree(base, ignore_errors=True)
