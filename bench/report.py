#!/usr/bin/env python3
"""bench/report.py - turn bench/run.sh's raw log into results.

    report.py RUN.jsonl LATEST.json RESULTS.md RESULTS.png PROFILE_DIR [NEIGHBOURS.jsonl]

Medians over the rounds per (test, target), ratios to the raw socket's
median on the same run, pass/fail against the targets of issue 7, memory
per target, ci-wrap's own costs, and the profile summaries. Writes the
aggregate as JSON, the Markdown report, and (with gnuplot) the plot.
"""
import json
import os
import re
import statistics
import subprocess
import sys

TARGETS = ["raw", "ci-wrap", "socat", "haproxy", "relay"]
TARGET_NOTES = {
    "raw": "the daemon's own socket, no proxy",
    "ci-wrap": "ci-wrap's proxy (`ci-wrap --no-cgroup -- sleep`), the session process",
    "socat": "`socat UNIX-LISTEN:...,fork UNIX-CONNECT:/var/run/docker.sock`",
    "haproxy": "HAProxy, docker-socket-proxy's setup (bench/haproxy.cfg)",
    "relay": "bare splice relay, no HTTP parsing (bench/relay.c): the floor",
}

# test id: (title, unit, higher is better, ratio target)
TESTS = {
    "ping1": ("GET /_ping, 1 keep-alive connection", "req/s", True, 0.47),
    "ping8": ("GET /_ping, 8 keep-alive connections", "req/s", True, 0.85),
    "conn1": ("GET /_ping, new connection per request, 1 at a time", "req/s", True, 0.60),
    "conn8": ("GET /_ping, new connection per request, 8 at a time", "req/s", True, 0.70),
    "list4": ("GET /containers/json?all=1 (50+ containers), 4 connections", "req/s", True, 0.98),
    "create_delete": ("POST /containers/create + DELETE, p50 of the pair", "ms", False, 1.03),
    "exec_in": ("`docker exec -i C cat` (stdin in, echoed out)", "MB/s", True, 0.95),
    "exec_out": ("`docker exec C head -c N /dev/zero`", "MB/s", True, 0.95),
    "run_in": ("`docker run -i --rm IMAGE cat` (stdin in, echoed out)", "MB/s", True, 0.95),
    "run_out": ("`docker run --rm IMAGE head -c N /dev/zero`", "MB/s", True, 0.95),
    "cp_out": ("`docker cp C:/big -` (file out)", "MB/s", True, 0.95),
    "run_rm": ("`docker run --rm IMAGE true`, end to end", "ms", False, 1.02),
}
LOADGEN_TESTS = {"ping1", "ping8", "conn1", "conn8", "list4"}
STREAM_TESTS = {"exec_in", "exec_out", "run_in", "run_out", "cp_out"}
MEM_TARGET_KB = 1024
TRUE_TARGET_MS = 20.0


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(v, unit=""):
    if v is None:
        return "–"
    if unit in ("req/s",):
        return f"{v:,.0f}"
    if unit == "MB/s":
        return f"{v:,.1f}"
    if unit == "ms":
        return f"{v:,.1f}" if v >= 10 else f"{v:,.2f}"
    if isinstance(v, float):
        return f"{v:.2f}"
    return str(v)


def human_bytes(n):
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if n == int(n) else f"{n:.1f} {unit}"
        n /= 1024


def load(path):
    recs = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                try:
                    recs.append(json.loads(line))
                except json.JSONDecodeError:
                    pass
    return recs


NOISY_PCT = 30.0  # mean CPU used elsewhere (other processes + steal), % of one CPU


def round_noise(recs, neighbours):
    """Mean CPU used outside the benchmark during each round."""
    starts = {r["round"]: r.get("start") for r in recs if r["kind"] == "round"}
    ends = {r["round"]: r.get("end") for r in recs if r["kind"] == "round_end"}
    out = {}
    for rnd, t0 in starts.items():
        t1 = ends.get(rnd)
        if t0 is None or t1 is None:
            continue
        xs = [n["foreign_cpu_pct"] for n in neighbours if t0 <= n["t"] <= t1 + 3]
        if xs:
            tops = {}
            for n in neighbours:
                if t0 <= n["t"] <= t1 + 3:
                    for c, v in n.get("top", []):
                        tops[c] = tops.get(c, 0) + v / len(xs)
            steal = [n.get("steal_pct", 0) for n in neighbours if t0 <= n["t"] <= t1 + 3]
            out[rnd] = {"foreign_cpu_pct": sum(xs) / len(xs), "max": max(xs),
                        "steal_pct": sum(steal) / len(steal),
                        "noise_pct": sum(xs) / len(xs) + sum(steal) / len(steal),
                        "top": sorted(tops.items(), key=lambda kv: -kv[1])[:3]}
    return out


def aggregate(recs, neighbours=()):
    meta = next((r for r in recs if r["kind"] == "meta"), {})
    noise = round_noise(recs, neighbours)
    all_rounds = sorted(r["round"] for r in recs if r["kind"] == "round")
    clean = [r for r in all_rounds if r in noise and noise[r]["noise_pct"] <= NOISY_PCT]
    # Medians over the quiet rounds when there are enough of them.
    used_rounds = set(clean) if len(clean) >= 3 else set(all_rounds)
    end = next((r for r in recs if r["kind"] == "end"), {})
    targets = {}
    for r in recs:
        if r["kind"] == "target":
            targets[r["target"]] = {"status": r["status"], "reason": r.get("reason"), "checks": {}}
    for r in recs:
        if r["kind"] == "check" and r["target"] in targets:
            targets[r["target"]]["checks"][r["test"]] = {"ok": r["ok"], "reason": r.get("reason")}
    order = [t for t in TARGETS if t in targets] + [t for t in targets if t not in TARGETS]

    results = {}
    for r in recs:
        if r["kind"] != "result" or r["round"] not in used_rounds:
            continue
        cell = results.setdefault(r["test"], {}).setdefault(
            r["target"], {"values": [], "failed": 0, "errors": [], "p50": [], "p99": [], "mem": [],
                          "by_round": {}, "interleaved": []})
        if r.get("ok") and r.get("value") is not None:
            cell["values"].append(r["value"])
            cell["by_round"][r["round"]] = r["value"]
            if r.get("interleaved_ratio"):
                cell["interleaved"].append(r["interleaved_ratio"])
            if "p50_us" in r:
                cell["p50"].append(r["p50_us"])
                cell["p99"].append(r["p99_us"])
        else:
            cell["failed"] += 1
            cell["errors"].append(r.get("error"))
        if r.get("mem"):
            cell["mem"].append(r["mem"])

    tests = {}
    for test, (title, unit, higher, thr) in TESTS.items():
        if test not in results and not any(test in t["checks"] for t in targets.values()):
            continue
        cells = results.get(test, {})
        raw_med = med(cells.get("raw", {}).get("values", []))
        rows = {}
        for t in order:
            c = cells.get(t)
            check = targets[t]["checks"].get(test)
            row = {"median": None, "ratio": None, "rounds": 0, "failed_rounds": 0}
            if targets[t]["status"] != "ok":
                row["status"] = "FAILED"
                row["reason"] = targets[t]["reason"]
            elif check is not None and not check["ok"]:
                row["status"] = "FAILED"
                row["reason"] = check["reason"]
            elif c is None:
                row["status"] = "not run"
            else:
                row["median"] = med(c["values"])
                row["rounds"] = len(c["values"])
                row["failed_rounds"] = c["failed"]
                row["values"] = c["values"]
                if c["p50"]:
                    row["p50_us"] = med(c["p50"])
                    row["p99_us"] = med(c["p99"])
                if raw_med and row["median"] is not None:
                    row["ratio"] = row["median"] / raw_med
                raw_rounds = cells.get("raw", {}).get("by_round", {})
                paired = [v / raw_rounds[k] for k, v in c["by_round"].items() if raw_rounds.get(k)]
                row["paired_ratio"] = med(paired)
                if c["interleaved"]:
                    row["interleaved_ratio"] = med(c["interleaved"])
                if c["values"]:
                    row["min"] = min(c["values"])
                    row["max"] = max(c["values"])
                if c["failed"]:
                    row["status"] = "FAILED"
                    row["reason"] = f"{c['failed']} of {c['failed'] + len(c['values'])} rounds failed: " + \
                        str(next((e for e in c["errors"] if e), ""))[:200]
                elif t == "raw":
                    row["status"] = "reference"
                elif row["ratio"] is None:
                    row["status"] = "–"
                else:
                    # interleaved with the raw socket when measured so
                    judged = row.get("interleaved_ratio") or row["ratio"]
                    ok = judged >= thr if higher else judged <= thr
                    row["status"] = "pass" if ok else "miss"
                if c["mem"]:
                    row["pss_max_kb"] = max(m["pss_kb"]["max"] for m in c["mem"])
                    row["rss_max_kb"] = max(m["rss_kb"]["max"] for m in c["mem"])
                    row["procs_max"] = max(m.get("procs_max", 1) for m in c["mem"])
            rows[t] = row
        tests[test] = {"title": title, "unit": unit, "higher_is_better": higher,
                       "ratio_target": thr, "raw_median": raw_med, "targets": rows}

    start_mem = {r["target"]: r for r in recs if r["kind"] == "start_memory"}
    memory = {}
    for t in order:
        if t == "raw" or targets[t]["status"] != "ok":
            continue
        per_test = {x: tests[x]["targets"][t].get("pss_max_kb") for x in tests
                    if tests[x]["targets"].get(t, {}).get("pss_max_kb") is not None}
        rss_test = {x: tests[x]["targets"][t].get("rss_max_kb") for x in tests
                    if tests[x]["targets"].get(t, {}).get("rss_max_kb") is not None}
        roll = (start_mem.get(t) or {}).get("rollup") or {}
        # The highest PSS seen in each round, all rounds (noisy ones too):
        # whether memory grows with the run or has a ceiling.
        by_round = {}
        for r in recs:
            if r["kind"] == "result" and r["target"] == t and r.get("mem"):
                v = (r["mem"].get("pss_kb") or {}).get("max")
                if v is not None:
                    by_round[r["round"]] = max(by_round.get(r["round"], 0), v)
        memory[t] = {
            "pss_max_by_round_kb": dict(sorted(by_round.items())),
            "start_pss_kb": (roll.get("pss_kb") or {}).get("max"),
            "start_rss_kb": (roll.get("rss_kb") or {}).get("max"),
            "pss_max_by_test_kb": per_test,
            "rss_max_by_test_kb": rss_test,
            "pss_max_kb": max(per_test.values()) if per_test else None,
            "rss_max_kb": max(rss_test.values()) if rss_test else None,
        }

    pool_rounds = [r for r in recs if r["kind"] == "true_pool" and r["round"] in used_rounds]
    true_rounds = [r for r in recs if r["kind"] == "true_overhead" and r["round"] in used_rounds]
    td_rounds = [r for r in recs if r["kind"] == "teardown" and r["round"] in used_rounds]
    grace = td_rounds[0]["grace_s"] if td_rounds else 1.0
    ciwrap = {
        "true_overhead_ms": med([r["value"] for r in true_rounds if r.get("ok")]),
        "true_ms": med([r["true"]["median_ms"] for r in true_rounds if r.get("true")]),
        "ciwrap_true_ms": med([r["ciwrap"]["median_ms"] for r in true_rounds if r.get("ciwrap")]),
        "true_rounds": len(true_rounds),
        "true_failed": sum(1 for r in true_rounds if not r.get("ok")),
        "teardown_s": med([r["value"] for r in td_rounds if r.get("ok")]),
        "teardown_values": [r["value"] for r in td_rounds],
        "teardown_rounds": len(td_rounds),
        "teardown_failed": [r for r in td_rounds if not r.get("ok")],
        "teardown_grace_s": grace,
        "pool_true_ms": med([r["pool"]["median_ms"] for r in pool_rounds if r.get("ok")]),
        "pool_nocgroup_ms": med([r["nocgroup"]["median_ms"] for r in pool_rounds if r.get("ok")]),
        "pool_adds_ms": med([r["value"] for r in pool_rounds if r.get("ok")]),
        "pool_rounds": len(pool_rounds),
    }
    return {"meta": meta, "end": end, "targets": targets, "order": order, "tests": tests,
            "memory": memory, "start_memory": start_mem, "ciwrap": ciwrap,
            "perfstat": [r for r in recs if r["kind"] == "perfstat"],
            "spot": [r for r in recs if r["kind"] == "spot"],
            "noise": noise, "used_rounds": sorted(used_rounds), "all_rounds": all_rounds,
            "redone": sum((r.get("attempts") or 1) - 1 for r in recs if r["kind"] == "result"),
            "rounds": [r for r in recs if r["kind"] == "round"]}


# ---- profile summaries -------------------------------------------------------

def perfstat_rows(agg):
    rows = []
    for r in agg["perfstat"]:
        vals = {}
        for line in (r.get("csv") or "").splitlines():
            parts = line.split(",")
            if len(parts) >= 3 and parts[0] and not line.startswith("#"):
                try:
                    vals[parts[2]] = float(parts[0])
                except ValueError:
                    pass
        if r["mode"] == "stream":
            b = r.get("bytes") or 0
            st = r.get("stream") or {}
            if vals and b:
                rows.append({
                    "target": r["target"], "mode": "stream", "bytes": b,
                    "syscalls_per_mib": vals.get("raw_syscalls:sys_enter", 0) / (b / 1048576),
                    "cpu_ms_per_gib": vals.get("task-clock", 0) / (b / 1073741824),
                    "switches_per_mib": vals.get("context-switches", 0) / (b / 1048576),
                    "mbps": st.get("value"),
                })
            continue
        n = r["requests"]
        lg = r.get("loadgen") or {}
        if not vals or not n:
            continue
        rows.append({
            "target": r["target"], "mode": r["mode"], "requests": n,
            "syscalls_per_req": vals.get("raw_syscalls:sys_enter", 0) / n,
            "cpu_us_per_req": vals.get("task-clock", 0) * 1000 / n,
            "switches_per_req": vals.get("context-switches", 0) / n,
            "rps": lg.get("rps"), "p50_us": lg.get("p50_us"),
        })
    return rows


def strace_table(path, requests):
    """The syscall mix from strace -c, per request."""
    if not os.path.exists(path):
        return None
    rows = []
    with open(path) as f:
        for line in f:
            m = re.match(r"\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(\d*)\s*(\w+)\s*$", line)
            if m and m.group(3) != "total":
                rows.append((m.group(3), int(m.group(1)), int(m.group(2) or 0)))
    if not rows:
        return None
    total = sum(r[1] for r in rows)
    out = ["| syscall | calls | per request | errors (EAGAIN) |", "|---|---:|---:|---:|"]
    for name, calls, errs in sorted(rows, key=lambda r: -r[1]):
        out.append(f"| {name} | {calls} | {calls / requests:.2f} | {errs} |")
    out.append(f"| **total** | {total} | **{total / requests:.2f}** | |")
    return "\n".join(out)


def read(path, limit=None):
    if not os.path.exists(path):
        return None
    with open(path) as f:
        lines = f.read().splitlines()
    return "\n".join(lines[:limit] if limit else lines)


def lib_costs(agg):
    """Per-file memory of ci-wrap's session process at start, and what the
    libraries only libcurl pulls in cost together."""
    sm = agg["start_memory"].get("ci-wrap")
    if not sm:
        return None, None
    maps = sm["maps"]
    binary = agg["meta"].get("binary")

    def needed(path):
        try:
            out = subprocess.run(["ldd", path], capture_output=True, text=True, timeout=10).stdout
        except (OSError, subprocess.SubprocessError):
            return set()
        libs = set()
        for line in out.splitlines():
            m = re.search(r"=>\s*(\S+)", line) or re.match(r"\s*(/\S+)", line)
            if m:
                libs.add(os.path.realpath(m.group(1)))
        return libs

    def direct(path):
        try:
            out = subprocess.run(["readelf", "-d", path], capture_output=True, text=True,
                                 timeout=10).stdout
        except (OSError, subprocess.SubprocessError):
            return []
        return re.findall(r"\(NEEDED\).*\[(.+)\]", out)

    groups = {}
    if binary and os.path.exists(binary):
        all_libs = needed(binary)
        by_name = {os.path.basename(p): p for p in all_libs}
        dnames = direct(binary)
        closures = {}
        for d in dnames:
            p = next((q for q in all_libs if os.path.basename(q).startswith(d.split(".so")[0] + ".so")), None)
            if p is None:
                p = by_name.get(d)
            if p:
                closures[d] = needed(p) | {p}
        for d, clo in closures.items():
            others = set().union(*(c for k, c in closures.items() if k != d)) if len(closures) > 1 else set()
            only = clo - others
            groups[d] = {"only_via": sorted(only)}
    table = []
    for m in maps:
        f = m["file"]
        table.append((f, m["rss_kb"], m["pss_kb"], m["private_dirty_kb"]))
    group_rows = []
    for d, g in groups.items():
        files = set(os.path.realpath(p) for p in g["only_via"])
        rss = sum(m["rss_kb"] for m in maps if os.path.realpath(m["file"]) in files)
        pss = sum(m["pss_kb"] for m in maps if os.path.realpath(m["file"]) in files)
        pd = sum(m["private_dirty_kb"] for m in maps if os.path.realpath(m["file"]) in files)
        group_rows.append((d, len(files), rss, pss, pd, sorted(os.path.basename(p) for p in files)))
    return table, group_rows


# ---- the plot -------------------------------------------------------------------

def plot(agg, png, datadir):
    if not png:
        return False
    order = [t for t in agg["order"] if t != "raw"]
    if not order:
        return False
    hi = [x for x, t in agg["tests"].items() if t["higher_is_better"]]
    lo = [x for x, t in agg["tests"].items() if not t["higher_is_better"]]

    def write(name, tests):
        path = os.path.join(datadir, name)
        with open(path, "w") as f:
            for x in tests:
                row = [x]
                for t in order:
                    r = agg["tests"][x]["targets"].get(t, {})
                    # the ratio the status uses: interleaved where measured
                    ratio = r.get("interleaved_ratio") or r.get("ratio")
                    row.append(f"{ratio:.4f}" if ratio is not None else "0")
                row.append(str(agg["tests"][x]["ratio_target"]))
                f.write(" ".join(row) + "\n")
        return path

    hi_dat = write("ratios-higher.dat", hi)
    lo_dat = write("ratios-lower.dat", lo)
    mem_dat = os.path.join(datadir, "memory.dat")
    with open(mem_dat, "w") as f:
        tests = list(agg["tests"])
        f.write("start " + " ".join(
            f"{(agg['memory'].get(t, {}).get('start_pss_kb') or 0) / 1024:.3f}" for t in order) + "\n")
        for x in tests:
            f.write(x + " " + " ".join(
                f"{(agg['memory'].get(t, {}).get('pss_max_by_test_kb', {}).get(x) or 0) / 1024:.3f}"
                for t in order) + "\n")
    n = len(order)
    names = " ".join(order)
    panels = []
    if hi:
        panels.append(f"""set title "Throughput ratio to the raw socket (higher is better; black bar = target; no bar = FAILED)"
plot for [i=2:{n + 1}] "{hi_dat}" using i:xtic(1) title word(names, i - 1), \\
     "{hi_dat}" using 0:{n + 2}:(0.45) with xerrorbars pt -1 lc rgb "black" lw 2 title "target"
""")
    if lo:
        panels.append(f"""set title "Latency ratio to the raw socket, interleaved run by run (lower is better; black bar = target; no bar = FAILED)"
plot for [i=2:{n + 1}] "{lo_dat}" using i:xtic(1) title word(names, i - 1), \\
     "{lo_dat}" using 0:{n + 2}:(0.45) with xerrorbars pt -1 lc rgb "black" lw 2 title "target"
""")
    if agg["memory"]:
        panels.append(f"""set title "Proxy PSS in MiB: at start, and the maximum sampled during each test (black line = 1 MiB target)"
plot for [i=2:{n + 1}] "{mem_dat}" using i:xtic(1) title word(names, i - 1), \\
     1 with lines lc rgb "black" lw 2 title "1 MiB"
""")
    if not panels:
        return False
    script = f"""
names = "{names}"
set terminal pngcairo size 1400,{500 * len(panels)} font "sans,10" noenhanced
set output "{png}"
set multiplot layout {len(panels)},1 title "ci-wrap benchmark: ratios to the raw socket (same run, medians), and proxy memory"
set style data histogram
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set grid ytics
set key outside right top
set xtics rotate by -20
set yrange [0:*]
""" + "".join(panels) + "unset multiplot\n"
    gp = os.path.join(datadir, "plot.gp")
    with open(gp, "w") as f:
        f.write(script)
    try:
        r = subprocess.run(["gnuplot", gp], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as e:
        print(f"report: gnuplot: {e}", file=sys.stderr)
        return False
    if r.returncode != 0:
        print(f"report: gnuplot failed: {r.stderr[-500:]}", file=sys.stderr)
        return False
    return True


# ---- Markdown ---------------------------------------------------------------------

def markdown(agg, profdir, png_ok, png_name, analysis):
    m = agg["meta"]
    s = m.get("settings", {})
    out = []
    w = out.append
    w("# ci-wrap benchmark results")
    w("")
    w(f"Generated by `bench/run.sh` ({'quick' if m.get('quick') else 'full'} run) on {m.get('date', '?')}, "
      f"{agg['end'].get('duration_s', '?')} s. Raw data: `bench/results/run.jsonl`, aggregate: "
      f"`bench/results/latest.json`. How to read this: `bench/README.md`.")
    w("")
    w("## Machine, versions, settings")
    w("")
    mach = m.get("machine", {})
    v = m.get("versions", {})
    w(f"- machine: {mach.get('cpu')}, {mach.get('cpus')} CPUs, {mach.get('memory')}, "
      f"{mach.get('os')}, kernel {mach.get('kernel')}, virtualization: {mach.get('virt')}")
    w(f"- load average at start: {mach.get('loadavg_at_start')}; at end: {agg['end'].get('loadavg', '?')}; "
      f"containers already running at start (not the bench's): {mach.get('other_running_containers')}")
    w(f"- dockerd {v.get('dockerd')}; {v.get('docker_cli')}")
    w(f"- {v.get('ci_wrap')}; libev {v.get('libev')}; llhttp {v.get('llhttp')}")
    w(f"- {v.get('socat')}; {v.get('haproxy')}; {v.get('cc')}")
    w(f"- rounds: {s.get('rounds')}; load generator: {s.get('loadgen_secs')} s measured after "
      f"{s.get('loadgen_warmup_secs')} s warm-up per run; create+delete: {s.get('create_delete_pairs')} pairs "
      f"per round; streams: {human_bytes(s.get('stream_bytes', 0))}; docker cp: {human_bytes(s.get('cp_bytes', 0))}; "
      f"docker run --rm: {s.get('run_rm_runs')} runs per round; memory sampled every {s.get('mem_interval_ms')} ms")
    w("")
    w("Targets, each a UNIX socket in front of `/var/run/docker.sock`:")
    w("")
    for t in agg["order"]:
        st = agg["targets"][t]
        extra = "" if st["status"] == "ok" else f" — **FAILED**: {st['reason']}"
        w(f"- **{t}**: {TARGET_NOTES.get(t, '')}{extra}")
    w("")
    w("Medians over the rounds; ratio = target's median / raw socket's median on this run. "
      "Status compares the ratio with issue 7's target (the targets are set for ci-wrap; the "
      "peers are judged by the same bar for comparison). **FAILED** = the target failed the "
      "correctness check before timing, or a timed round failed.")
    w("")

    # summary for ci-wrap
    w("## Summary: ci-wrap against the targets")
    w("")
    w("| test | ci-wrap | raw | ratio | target | status | floor (relay) ratio |")
    w("|---|---:|---:|---:|---:|---|---:|")
    for x, t in agg["tests"].items():
        c = t["targets"].get("ci-wrap", {})
        rl = t["targets"].get("relay", {})
        sign = "≥" if t["higher_is_better"] else "≤"
        w(f"| {t['title']} | {fmt(c.get('median'), t['unit'])} {t['unit']} | "
          f"{fmt(t['raw_median'], t['unit'])} | {judged_ratio(c)} | {sign} {t['ratio_target']} | "
          f"{status_cell(c)} | {judged_ratio(rl)} |")
    mem = agg["memory"].get("ci-wrap", {})
    if mem:
        pmax = mem.get("pss_max_kb")
        st = "pass" if pmax is not None and pmax <= MEM_TARGET_KB else "miss"
        w(f"| proxy memory, PSS max over all tests | {fmt_kb(pmax)} | | | ≤ 1 MiB | **{st}** | |")
    cw = agg["ciwrap"]
    if cw["true_overhead_ms"] is not None:
        st = "pass" if cw["true_overhead_ms"] <= TRUE_TARGET_MS else "miss"
        w(f"| `ci-wrap --no-cgroup -- true` minus `true` | {cw['true_overhead_ms']:.1f} ms | "
          f"{cw['true_ms']:.2f} ms | | ≤ 20 ms | **{st}** | |")
    if cw["teardown_rounds"]:
        lim = cw["teardown_grace_s"] + 2
        td = cw["teardown_s"]
        st = "FAILED" if cw["teardown_failed"] else ("pass" if td is not None and td <= lim else "miss")
        w(f"| teardown of {m.get('settings', {}).get('teardown_containers')} running containers "
          f"ignoring SIGTERM, `--grace {s.get('teardown_grace')}` | {fmt(td)} s | | | ≤ {lim:g} s | **{st}** | |")
    w("")
    if png_ok:
        w(f"![ratios and memory]({png_name})")
        w("")

    # per test tables
    w("## Per test")
    w("")
    w("ratio = median / raw median; paired ratio = median over rounds of (value / raw value in the "
      "same round), which cancels drift between rounds; interleaved ratio (create_delete, run_rm) = "
      "median over rounds of the ratio to raw-socket runs alternated one by one with the target's "
      "in the same command, which also cancels drift within a round: where it is measured, the "
      "status uses it; min–max = spread over the rounds.")
    if agg["noise"]:
        w("")
        w("CPU the benchmark did not get during each round (`bench/neighbours.py`, % of one CPU: "
          "other processes + hypervisor steal; a round above "
          f"{NOISY_PCT:.0f}% is noisy): " +
          "; ".join(f"{k}: {v['foreign_cpu_pct']:.0f}% + {v['steal_pct']:.0f}%" +
                    (" **noisy**" if v["noise_pct"] > NOISY_PCT else "")
                    for k, v in sorted(agg["noise"].items())) + ".")
        if agg.get("redone"):
            w(f"{agg['redone']} runs were redone because the hypervisor stole more than the "
              "limit of a CPU, or other processes were busy, while they ran (at most twice each; "
              "the steal of the kept run is in `results/run.jsonl`).")
        if agg["used_rounds"] != agg["all_rounds"]:
            w(f"Medians use the quiet rounds only: {', '.join(map(str, agg['used_rounds']))}.")
        elif any(v["noise_pct"] > NOISY_PCT for v in agg["noise"].values()):
            w("Fewer than 3 rounds were quiet: the medians use every round and are noisy.")
    w("")
    for x, t in agg["tests"].items():
        sign = "≥" if t["higher_is_better"] else "≤"
        w(f"### {x}: {t['title']}")
        w("")
        lat = x in LOADGEN_TESTS or x == "create_delete"
        inter = any(r.get("interleaved_ratio") for r in t["targets"].values())
        head = f"| target | median ({t['unit']}) | min–max | ratio | paired ratio |"
        sep = "|---|---:|---:|---:|---:|"
        if inter:
            head += " interleaved ratio |"
            sep += "---:|"
        head += f" {sign} {t['ratio_target']} |"
        sep += "---|"
        if lat:
            head += " p50 latency | p99 latency |"
            sep += "---:|---:|"
        head += " rounds | proxy PSS max | proxy RSS max |"
        sep += "---:|---:|---:|"
        w(head)
        w(sep)
        for tg in agg["order"]:
            r = t["targets"].get(tg, {})
            spread = (f"{fmt(r['min'], t['unit'])}–{fmt(r['max'], t['unit'])}" if r.get("min") is not None
                      else "–")
            line = (f"| {tg} | {fmt(r.get('median'), t['unit'])} | {spread} | {fmt_ratio(r.get('ratio'))} | "
                    f"{fmt_ratio(r.get('paired_ratio'))} |")
            if inter:
                line += f" {fmt_ratio(r.get('interleaved_ratio'))} |"
            line += f" {status_cell(r)} |"
            if lat:
                line += f" {fmt_us(r.get('p50_us'))} | {fmt_us(r.get('p99_us'))} |"
            rounds = f"{r.get('rounds', 0)}" + (f" (+{r['failed_rounds']} failed)" if r.get("failed_rounds") else "")
            procs = f" ({r['procs_max']} procs)" if r.get("procs_max", 1) > 1 else ""
            line += f" {rounds} | {fmt_kb(r.get('pss_max_kb'))}{procs} | {fmt_kb(r.get('rss_max_kb'))} |"
            w(line)
        fails = [(tg, r["reason"]) for tg, r in t["targets"].items() if r.get("status") == "FAILED"]
        if fails:
            w("")
            for tg, reason in fails:
                w(f"- {tg} FAILED: {reason}")
        w("")

    if agg["spot"]:
        w(f"## Spot check at {human_bytes(s.get('spot_bytes', 0))}")
        w("")
        w("The two exec streams once more at the issue's size, raw socket and ci-wrap only, "
          "after the rounds (one run each: a spot check, not a median).")
        w("")
        w("| test | target | MB/s | ratio | proxy PSS max | proxy RSS max |")
        w("|---|---|---:|---:|---:|---:|")
        rawv = {r["test"]: r.get("value") for r in agg["spot"] if r["target"] == "raw" and r.get("ok")}
        for r in agg["spot"]:
            ratio = r.get("value") / rawv[r["test"]] if r.get("ok") and rawv.get(r["test"]) else None
            mm = r.get("mem") or {}
            w(f"| {r['test']} | {r['target']} | {fmt(r.get('value') if r.get('ok') else None, 'MB/s')}"
              f"{'' if r.get('ok') else ' FAILED'} | {fmt(ratio)} | "
              f"{fmt_kb((mm.get('pss_kb') or {}).get('max'))} | {fmt_kb((mm.get('rss_kb') or {}).get('max'))} |")
        w("")

    # memory
    w("## Proxy memory")
    w("")
    w("PSS and RSS of each proxy's processes (socat: the listener and its per-connection children), "
      "from `/proc/PID/smaps_rollup`, sampled during every test.")
    w("")
    w("| target | PSS at start | PSS max (test) | RSS at start | RSS max |")
    w("|---|---:|---:|---:|---:|")
    for tg, mm in agg["memory"].items():
        bt = mm["pss_max_by_test_kb"]
        worst = max(bt, key=bt.get) if bt else None
        w(f"| {tg} | {fmt_kb(mm['start_pss_kb'])} | {fmt_kb(mm['pss_max_kb'])} ({worst}) | "
          f"{fmt_kb(mm['start_rss_kb'])} | {fmt_kb(mm['rss_max_kb'])} |")
    w("")
    if "ci-wrap" in agg["memory"]:
        bt = agg["memory"]["ci-wrap"]["pss_max_by_test_kb"]
        w("ci-wrap's session process, PSS max per test (over the quiet rounds): " +
          ", ".join(f"{x} {fmt_kb(v)}" for x, v in bt.items()) + ".")
        w("")
        br = agg["memory"]["ci-wrap"].get("pss_max_by_round_kb") or {}
        if br:
            w("PSS max per round (every round), from the start: "
              f"{fmt_kb(agg['memory']['ci-wrap']['start_pss_kb'])}, then " +
              ", ".join(f"{k}: {fmt_kb(v)}" for k, v in br.items()) +
              ". A rise from round to round is memory the process keeps (freed buffers it "
              "caches, heap it does not return), not the load of the moment.")
            w("")
    table, groups = lib_costs(agg)
    if table:
        w("### What each mapping costs ci-wrap's session process at start")
        w("")
        w("From `/proc/PID/smaps` of the idle session process, summed per file. PSS splits "
          "pages shared with other processes (the launcher maps the same files); private dirty "
          "pages are what this process alone pays for (relocations, .data, .bss, heap).")
        w("")
        w("| mapping | RSS | PSS | private dirty |")
        w("|---|---:|---:|---:|")
        tot = [0, 0, 0]
        for f, rss, pss, pd in sorted(table, key=lambda r: -r[2]):
            tot[0] += rss
            tot[1] += pss
            tot[2] += pd
            w(f"| `{f}` | {rss} kB | {pss} kB | {pd} kB |")
        w(f"| **total** | **{tot[0]} kB** | **{tot[1]} kB** | **{tot[2]} kB** |")
        w("")
        if groups:
            w("Per direct dependency of the binary (`readelf -d`), the libraries only it pulls in "
              "(its own file and its exclusive dependencies, from `ldd`), and what they cost together:")
            w("")
            w("| NEEDED | libraries only it brings | RSS | PSS | private dirty |")
            w("|---|---|---:|---:|---:|")
            for d, n, rss, pss, pd, names in sorted(groups, key=lambda g: -g[3]):
                w(f"| {d} | {n}: {', '.join(names)} | {rss} kB | {pss} kB | {pd} kB |")
            w("")

    # ci-wrap's own costs
    w("## ci-wrap's own costs")
    w("")
    if cw["true_rounds"]:
        w(f"- `ci-wrap --no-cgroup -- true`: {fmt(cw['ciwrap_true_ms'], 'ms')} ms median against "
          f"{fmt(cw['true_ms'], 'ms')} ms for `true` ({s.get('true_runs')} runs each per round, "
          f"{cw['true_rounds']} rounds): **{fmt(cw['true_overhead_ms'], 'ms')} ms** overhead"
          + (f"; {cw['true_failed']} rounds failed" if cw["true_failed"] else "") + ".")
    if cw.get("pool_rounds"):
        w(f"- With the cgroup pool (ci-wrap's default): `ci-wrap -- true` {fmt(cw['pool_true_ms'], 'ms')} ms "
          f"against {fmt(cw['pool_nocgroup_ms'], 'ms')} ms with `--no-cgroup`, alternated run by run "
          f"({cw['pool_rounds']} rounds): the pool adds **{fmt(cw['pool_adds_ms'], 'ms')} ms**.")
    pm = agg["start_memory"].get("ci-wrap (pool)")
    if pm:
        if pm.get("error"):
            w(f"- Session process with the pool: {pm['error']}.")
        else:
            roll = (pm.get("rollup") or {}).get("pss_kb") or {}
            lroll = (pm.get("launcher_rollup") or {}).get("pss_kb") or {}
            curl = sum(m["pss_kb"] for m in pm.get("maps", []) if re.search(
                r"lib(curl|ssl|crypto|gnutls|nettle|hogweed|gmp|krb5|k5crypto|gssapi|ldap|lber|sasl2|ssh2|"
                r"nghttp2|rtmp|psl|idn2|unistring|brotli|zstd|z\.so|p11-kit|tasn1|ffi|keyutils|com_err|resolv)",
                m["file"]))
            w(f"- Session process with the pool, idle after start: PSS **{fmt_kb(roll.get('max'))}** "
              f"(of which libcurl and the libraries it pulls in: {fmt_kb(curl)}); its launcher "
              f"{fmt_kb(lroll.get('max'))}. The timed tests use `--no-cgroup`.")
    if cw["teardown_rounds"]:
        vals = ", ".join(fmt(v) for v in cw["teardown_values"])
        w(f"- Teardown, from the command's exit to ci-wrap's exit, with {s.get('teardown_containers')} "
          f"running containers whose PID 1 ignores SIGTERM and `--grace {s.get('teardown_grace')}`: "
          f"median **{fmt(cw['teardown_s'])} s** (rounds: {vals}).")
        for f in cw["teardown_failed"]:
            w(f"  - round {f['round']} FAILED: {f.get('running')} running at the end of the command, "
              f"{f.get('left')} left after teardown, exit code {f.get('exit_code')}")
    w("")

    # profiles
    w("## Profiles")
    w("")
    rows = perfstat_rows(agg)
    if rows:
        w("### Syscalls, CPU and context switches per request (`perf stat -p`, GET /_ping, 1 connection)")
        w("")
        w("Counted on the proxy's processes only (not the client's, not dockerd's). The machine "
          "has no hardware counters (VM), so CPU is `task-clock`.")
        w("")
        w("| target | mode | syscalls/req | CPU µs/req | context switches/req | req/s while counted |")
        w("|---|---|---:|---:|---:|---:|")
        for r in rows:
            if r["mode"] == "stream":
                continue
            w(f"| {r['target']} | {r['mode']} | {r['syscalls_per_req']:.1f} | {r['cpu_us_per_req']:.1f} | "
              f"{r['switches_per_req']:.2f} | {fmt(r['rps'], 'req/s')} |")
        w("")
        srows = [r for r in rows if r["mode"] == "stream"]
        if srows:
            w("The same counters during a 128 MiB `docker exec C head` stream out (the hijacked, "
              "unparsed path):")
            w("")
            w("| target | syscalls/MiB | CPU ms/GiB | context switches/MiB | MB/s while counted |")
            w("|---|---:|---:|---:|---:|")
            for r in srows:
                w(f"| {r['target']} | {r['syscalls_per_mib']:.0f} | {r['cpu_ms_per_gib']:.0f} | "
                  f"{r['switches_per_mib']:.1f} | {fmt(r['mbps'], 'MB/s')} |")
            w("")
    lgj = os.path.join(profdir, "strace-ping1.loadgen.json")
    n = 2000
    if os.path.exists(lgj):
        try:
            n = json.load(open(lgj)).get("requests") or n
        except (OSError, json.JSONDecodeError):
            pass
    st = strace_table(os.path.join(profdir, "strace-ping1.txt"), n)
    if st:
        w(f"### ci-wrap's syscall mix per request (`strace -c -f`, {n} × GET /_ping on 1 connection)")
        w("")
        w(st)
        w("")
    st = read(os.path.join(profdir, "strace-exec-out.txt"), 25)
    if st:
        w("### ci-wrap's syscall mix during a 64 MiB `docker exec C head` stream (`strace -c -f`)")
        w("")
        w("```")
        w(st)
        w("```")
        w("")
    for name, title in (("perf-ping1-dso.txt", "CPU by object, GET /_ping 1 connection (`perf record -F 4999 -p`)"),
                        ("perf-ping1.txt", "Hottest symbols, GET /_ping 1 connection"),
                        ("perf-ping8.txt", "Hottest symbols, GET /_ping 8 connections"),
                        ("perf-exec-out.txt", "Hottest symbols during a 256 MiB `docker exec C head` stream")):
        txt = read(os.path.join(profdir, name), 30)
        if txt:
            w(f"### {title}")
            w("")
            w("```")
            w(txt)
            w("```")
            w("")
    summ = read(os.path.join(profdir, "callgrind-summary.txt"))
    if summ:
        w("### Instructions per request (callgrind, on a ci-wrap of its own)")
        w("")
        counts = {}
        for name in ("ping", "create"):
            p = os.path.join(profdir, f"callgrind-{name}.loadgen.json")
            try:
                counts[name] = json.load(open(p)).get("requests")
            except (OSError, json.JSONDecodeError, AttributeError):
                counts[name] = None
        for line in summ.splitlines():
            parts = line.split()
            if len(parts) == 2:
                tag, ir = parts[0], int(parts[1])
                k = next((c for c in counts if c in tag), None)
                per = f", {ir / counts[k]:,.0f} per request" if k and counts[k] else ""
                w(f"- `{tag}`: {ir:,} instructions{per} ({counts.get(k)} requests)")
        w("")
        for name in sorted(os.listdir(profdir)):
            if name.startswith("callgrind-") and name.endswith("-inclusive.txt"):
                txt = read(os.path.join(profdir, name))
                body = callgrind_body(txt, 25)
                if body:
                    w(f"`{name}` (inclusive, top 25):")
                    w("")
                    w("```")
                    w(body)
                    w("```")
                    w("")
    execs = []
    for name, what in (("exec-true-timeit.json", "`true`"),
                       ("exec-nocurl-timeit.json", "an empty program linked with libev, libcgroup, libjansson, libm"),
                       ("exec-curl-timeit.json", "the same plus libcurl (as ci-wrap is linked)"),
                       ("version-timeit.json", "`ci-wrap --version`"),
                       ("true-timeit.json", "`ci-wrap --no-cgroup -- true`")):
        try:
            j = json.load(open(os.path.join(profdir, name)))
            execs.append(f"| {what} | {j['median_ms']:.2f} ms | {j['min_ms']:.2f} ms |")
        except (OSError, ValueError, KeyError):
            pass
    if execs:
        w("### What an exec costs (fork + exec + dynamic loading + exit, `timeit`)")
        w("")
        w("ci-wrap pays the loading twice per run: the launcher, and the session process it "
          "re-executes from `/proc/self/exe`.")
        w("")
        w("| program | median | min |")
        w("|---|---:|---:|")
        for line in execs:
            w(line)
        w("")
    tr = read(os.path.join(profdir, "true.strace"))
    if tr:
        w("### Where `ci-wrap --no-cgroup -- true` spends its time (strace -f -ttt, one run)")
        w("")
        w(true_timeline(tr))
        w("")

    if analysis:
        w("## Analysis")
        w("")
        w(analysis.strip())
        w("")
    return "\n".join(out) + "\n"


def callgrind_body(txt, n):
    if not txt:
        return None
    lines = txt.splitlines()
    # keep the header line with "Ir" and the first n function lines after it
    start = next((i for i, l in enumerate(lines) if "file:function" in l), None)
    if start is None:
        return "\n".join(lines[:n])
    body = [l for l in lines[start + 1:] if l.strip() and not l.startswith("-")]
    return "\n".join([lines[start]] + body[:n])


def true_timeline(txt):
    """From an strace -f -ttt log: when the command was exec'd, when it
    exited, and when ci-wrap exited, relative to ci-wrap's own exec."""
    lines = txt.splitlines()
    ev = []
    for l in lines:
        m = re.match(r"(\d+)\s+(\d+\.\d+)\s+(.*)", l)
        if m:
            ev.append((int(m.group(1)), float(m.group(2)), m.group(3)))
    if not ev:
        return "(no events)"
    t0 = ev[0][1]
    main_pid = ev[0][0]
    marks = []
    for pid, t, call in ev:
        if call.startswith("execve(") and "= -1" not in call:
            marks.append((t - t0, pid, call[:90]))
        elif call.startswith("+++ exited") or call.startswith("exit_group("):
            marks.append((t - t0, pid, call[:60]))
        elif re.match(r'(sendto|write)\(\d+, "(GET|POST|DELETE|HEAD|PUT) ', call):
            marks.append((t - t0, pid, call[:90]))
        elif re.match(r"(wait4|clone3?|vfork|fork)\(", call) and "WNOHANG, NULL) = 0" not in call:
            marks.append((t - t0, pid, call[:90]))
        elif re.match(r'openat\(AT_FDCWD, "[^"]*/libcurl\.so', call):
            marks.append((t - t0, pid, call[:90] + "  (libcurl loading starts)"))
    last = ev[-1][1] - t0
    walks = sum(1 for pid, _, call in ev if pid == main_pid and re.match(r'openat\(AT_FDCWD, "/proc/\d+/', call))
    out = [f"Total under strace: {last * 1000:.1f} ms (strace slows the traced syscalls; read the shape, "
           f"not the absolute times). Process {main_pid} is the launcher; it opened {walks} "
           "`/proc/PID/...` files (a walk over every process on the host).", "", "```"]
    for dt, pid, call in marks[:60]:
        out.append(f"{dt * 1000:8.2f} ms  [{pid}] {call}")
    out.append("```")
    return "\n".join(out)


def fmt_ratio(v):
    return "–" if v is None else f"{v:.3f}"


def judged_ratio(r):
    """The ratio the status uses: interleaved (marked i) when measured so."""
    if r.get("interleaved_ratio"):
        return f"{r['interleaved_ratio']:.3f} (i)"
    return fmt_ratio(r.get("ratio"))


def status_cell(r):
    st = r.get("status", "–")
    if st in ("pass", "miss", "FAILED"):
        return f"**{st}**"
    return st


def fmt_kb(v):
    if v is None:
        return "–"
    return f"{v / 1024:.2f} MiB" if v >= 1024 else f"{v} kB"


def fmt_us(v):
    if v is None:
        return "–"
    return f"{v / 1000:.2f} ms" if v >= 1000 else f"{v:.0f} µs"


def main():
    if len(sys.argv) not in (6, 7):
        print(__doc__, file=sys.stderr)
        return 2
    runlog, latest, md, png, profdir = sys.argv[1:6]
    neighbours = load(sys.argv[6]) if len(sys.argv) > 6 and os.path.exists(sys.argv[6]) else []
    agg = aggregate(load(runlog), neighbours)
    here = os.path.dirname(os.path.abspath(md))
    datadir = os.path.dirname(os.path.abspath(latest))
    png_ok = plot(agg, os.path.abspath(png), datadir)
    analysis = None
    ap = os.path.join(os.path.dirname(os.path.abspath(__file__)), "analysis.md")
    if os.path.exists(ap):
        analysis = open(ap).read()
    agg_out = dict(agg)
    agg_out["start_memory"] = {k: {kk: vv for kk, vv in v.items() if kk != "kind"}
                               for k, v in agg["start_memory"].items()}
    agg_out["perfstat"] = perfstat_rows(agg)
    with open(latest, "w") as f:
        json.dump(agg_out, f, indent=1)
    with open(md, "w") as f:
        f.write(markdown(agg, profdir, png_ok, os.path.relpath(png, here), analysis))
    return 0


if __name__ == "__main__":
    sys.exit(main())
