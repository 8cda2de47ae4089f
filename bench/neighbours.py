#!/usr/bin/env python3
"""bench/neighbours.py - how much CPU the benchmark's neighbours use.

    neighbours.py ROOT_PID INTERVAL_S OUT_JSONL NOW_FILE

Every INTERVAL_S seconds, the CPU time the machine spent (user + system in
/proc/stat) minus what went to the benchmark's side since the last sample,
in percent of one CPU. The benchmark's side: ROOT_PID and its descendants,
dockerd/containerd and the processes of containers (they work for whoever
calls them), and kernel threads. A process's CPU is counted with what its
exited children left in cutime/cstime, so short-lived commands (the docker
CLI runs, a compiler) land on the right side once reaped. Appends
{"t", "foreign_cpu_pct", "steal_pct", "top"} to OUT_JSONL (top: the busiest
outside processes, a shell with what its children used; steal: CPU the
hypervisor gave to other guests) and keeps the latest percentage in NOW_FILE, which bench/run.sh
reads to wait for a quiet machine before each round.
"""
import json
import os
import sys
import time

DAEMONS = {"dockerd", "containerd", "containerd-shim", "containerd-shim-runc-v2",
           "runc", "docker-init", "docker-proxy"}


def snapshot():
    procs = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                data = f.read()
        except OSError:
            continue
        r = data.rfind(")")
        comm = data[data.find("(") + 1:r]
        fields = data[r + 2:].split()
        try:
            ppid = int(fields[1])
            ticks = int(fields[11]) + int(fields[12])
            children = int(fields[13]) + int(fields[14])
            start = int(fields[19])
        except (IndexError, ValueError):
            continue
        procs[int(d)] = (ppid, comm, ticks, start, children)
    return procs


def busy_ticks():
    """user + nice + system, and steal (time the hypervisor gave elsewhere)."""
    with open("/proc/stat") as f:
        cpu = f.readline().split()
    user, nice, system = int(cpu[1]), int(cpu[2]), int(cpu[3])
    steal = int(cpu[8]) if len(cpu) > 8 else 0
    return user + nice + system, steal


def ours(pid, procs, root, memo):
    """True if pid belongs to the benchmark, the daemons, or the kernel."""
    chain = []
    p = pid
    result = False
    while p > 1 and p in procs:
        if p in memo:
            result = memo[p]
            break
        chain.append(p)
        ppid, comm = procs[p][0], procs[p][1]
        if p == root or comm in DAEMONS or p == 2 or ppid == 2:
            result = True
            break
        p = ppid
    for c in chain:
        memo[c] = result
    return result


def main():
    root, interval, out, now_file = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3], sys.argv[4]
    hz = os.sysconf("SC_CLK_TCK")
    prev = snapshot()
    busy_prev, steal_prev = busy_ticks()
    t_prev = time.monotonic()
    while True:
        time.sleep(interval)
        cur = snapshot()
        busy, steal = busy_ticks()
        t = time.monotonic()
        memo = {}
        used = {}
        mine = 0
        for pid, (ppid, comm, ticks, start, children) in cur.items():
            old = prev.get(pid)
            same = old is not None and old[3] == start
            if ours(pid, cur, root, memo):
                # with what its reaped children left behind
                mine += (ticks + children) - ((old[2] + old[4]) if same else 0)
                continue
            # a shell's reaped children count for the shell
            delta = (ticks + children) - ((old[2] + old[4]) if same else 0)
            if delta > 0:
                used[comm] = used.get(comm, 0) + delta
        secs = t - t_prev
        foreign = max(0, (busy - busy_prev) - mine)
        pct = foreign / hz / secs * 100 if secs > 0 else 0
        top = sorted(used.items(), key=lambda kv: -kv[1])[:3]
        rec = {"t": time.time(), "foreign_cpu_pct": round(pct, 1),
               "steal_pct": round((steal - steal_prev) / hz / secs * 100, 1) if secs > 0 else 0,
               "top": [[c, round(v / hz / secs * 100, 1)] for c, v in top]}
        with open(out, "a") as f:
            f.write(json.dumps(rec) + "\n")
        tmp = now_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{pct:.1f}\n")
        os.replace(tmp, now_file)
        prev, t_prev, busy_prev, steal_prev = cur, t, busy, steal
        if not os.path.exists(f"/proc/{root}"):
            return 0


if __name__ == "__main__":
    sys.exit(main())
