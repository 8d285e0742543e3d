#!/usr/bin/env python3
"""zkgrid vs EZKL 23.0.5 on the same ONNX files, same machine, one run (driven by run.sh).

For each model (EZKL first, then zkgrid, so both see the same machine state):

EZKL (the peer's method: each step in its own process via the peer's ezkl_step.py, timed with
perf_counter around the ezkl call, under /usr/bin/time -v for peak RSS and CPU):
  gen_settings -> calibrate_settings (library defaults, on input.json) -> compile_circuit ->
  gen_srs (timed separately) -> gen_witness -> setup (keygen) -> prove x N -> verify

zkgrid (release CLI, each command under /usr/bin/time -v, fresh data dir per model):
  compile network.onnx --calibration input.json (same data EZKL calibrates on) -> inspect ->
  setup #1 (generates and caches the INSECURE dev SRS: srs_s) -> drop cached keys ->
  setup #2 (keygen only; SRS from cache) -> prove x N (keys from cache) -> verify --model

Peak RSS, wall time, CPU seconds, and the CPU seconds burnt by *other* processes during each
step (from /proc/stat; > 0 means the machine was shared) are recorded for every step. Before
keygen/prove steps the driver waits (up to --wait-idle s) for the machine to go quiet.

Writes raw records to <work>/results.json and a markdown report between the
<!-- BEGIN peer-run --> / <!-- END peer-run --> markers of --results (other text is kept).
"""
import argparse
import datetime
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time

BEGIN, END = "<!-- BEGIN peer-run -->", "<!-- END peer-run -->"


def markers(weights):
    """The RESULTS.md markers of a run: one section per weights visibility."""
    if weights == "fixed":
        return BEGIN, END
    return f"<!-- BEGIN peer-run-weights-{weights} -->", f"<!-- END peer-run-weights-{weights} -->"


def busy_cpu_s():
    """Machine-wide busy CPU seconds so far (all cores), from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return (sum(v[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def wait_idle(max_wait):
    """Wait up to max_wait s until others use < 15% of one core over 3 s; return that share."""
    t_end = time.time() + max_wait
    while True:
        b0 = busy_cpu_s()
        time.sleep(3)
        frac = (busy_cpu_s() - b0) / 3
        if frac < 0.15 or time.time() > t_end:
            return round(frac, 2)


def timed(cmd, env=None, idle=0.0):
    """Run cmd under /usr/bin/time -v. Returns a record (stdout kept for parsing)."""
    busy_before = wait_idle(idle) if idle else None
    load_before = os.getloadavg()[0]
    b0 = busy_cpu_s()
    t0 = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-v"] + cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    b1 = busy_cpu_s()
    err = p.stderr
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", err)
    u = re.search(r"User time \(seconds\): ([\d.]+)", err)
    s = re.search(r"System time \(seconds\): ([\d.]+)", err)
    cpu = float(u.group(1)) + float(s.group(1)) if u and s else None
    rec = {
        "cmd": cmd,
        "rc": p.returncode,
        "wall_s": round(wall, 3),
        "peak_rss_mib": round(int(m.group(1)) / 1024, 1) if m else None,
        "cpu_s": cpu,
        "foreign_cpu_s": round(b1 - b0 - (cpu or 0), 2),
        "busy_cores_before": busy_before,
        "load_before": round(load_before, 2),
        "load_after": round(os.getloadavg()[0], 2),
        "stdout": p.stdout,
    }
    if p.returncode != 0:
        rec["stderr_tail"] = err[-3000:]
    return rec


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def brief(name, r, extra=""):
    log(f"    {name:16s} rc={r['rc']} wall={r['wall_s']:.3f}s rss={r['peak_rss_mib']}MiB "
        f"cpu={r['cpu_s']}s foreign_cpu={r['foreign_cpu_s']}s load={r['load_before']}->{r['load_after']} {extra}")
    if r["rc"] != 0:
        log(r.get("stderr_tail", ""))


# ---------------------------------------------------------------- EZKL


def ezkl_model(a, model):
    mdir = os.path.join(a.models, model)
    onnx, data = os.path.join(mdir, "network.onnx"), os.path.join(mdir, "input.json")
    w = os.path.join(a.work, "ezkl-work", model)
    os.makedirs(w, exist_ok=True)
    P = {k: os.path.join(w, v) for k, v in dict(
        settings="settings.json", compiled="model.compiled", witness="witness.json",
        vk="vk.key", pk="pk.key", proof="proof.json").items()}
    rec = {"steps": {}}

    def step(name, idle=0.0, **kw):
        kw["step"] = name
        r = timed([a.ezkl_py, a.ezkl_step, json.dumps(kw)], idle=idle)
        res = None
        for line in r.pop("stdout").splitlines():
            if line.startswith("RESULT "):
                res = json.loads(line[7:])
        r["ok"] = bool(res and res["ok"]) and r["rc"] == 0
        r["secs"] = res["secs"] if res else None
        if res and not res["ok"]:
            r["err"] = res["err"]
        rec["steps"].setdefault(name, []).append(r)
        brief(name, r, f"ezkl_secs={r['secs']}")
        if not r["ok"]:
            raise RuntimeError(f"EZKL {model} {name} failed: {r.get('err') or r.get('stderr_tail')}")
        return r

    log(f"== EZKL {model}")
    run_args = {"param_visibility": "hashed/public"} if a.weights == "hashed" else None
    step("gen_settings", model=onnx, settings=P["settings"], run_args=run_args)
    step("calibrate_settings", data=data, model=onnx, settings=P["settings"])
    s = json.load(open(P["settings"]))
    lr = s["run_args"]["logrows"]
    rec["logrows"], rec["num_rows"] = lr, s.get("num_rows")
    rec["scales"] = [s["run_args"].get("input_scale"), s["run_args"].get("param_scale")]
    step("compile_circuit", model=onnx, compiled=P["compiled"], settings=P["settings"])
    srs = os.path.join(a.work, "ezkl-work", f"kzg{lr}.srs")
    if os.path.exists(srs):
        os.remove(srs)  # measure SRS generation in this run too
    step("gen_srs", srs=srs, logrows=lr)
    step("gen_witness", data=data, compiled=P["compiled"], witness=P["witness"])
    step("setup", idle=a.wait_idle, compiled=P["compiled"], vk=P["vk"], pk=P["pk"], srs=srs)
    for _ in range(a.proves):
        step("prove", idle=a.wait_idle, witness=P["witness"], compiled=P["compiled"], pk=P["pk"],
             proof=P["proof"], srs=srs)
    step("verify", proof=P["proof"], settings=P["settings"], vk=P["vk"], srs=srs)
    rec["pk_mib"] = round(os.path.getsize(P["pk"]) / 2**20, 1)
    for f in (P["pk"], P["witness"]):  # large; not needed after the run
        os.remove(f)
    return rec


# ---------------------------------------------------------------- zkgrid


def zkgrid_model(a, model):
    mdir = os.path.join(a.models, model)
    onnx, data = os.path.join(mdir, "network.onnx"), os.path.join(mdir, "input.json")
    w = os.path.join(a.work, "zkgrid-work", model)
    dd = os.path.join(a.work, "zkgrid-data", model)
    shutil.rmtree(dd, ignore_errors=True)  # fresh data dir: SRS and keys generated in this run
    os.makedirs(w, exist_ok=True)
    zkg, proof = os.path.join(w, "m.zkg.json"), os.path.join(w, "proof.json")
    rec = {"steps": {}}

    vis = ["--weights-visibility", a.weights]

    def step(name, args, idle=0.0):
        if name in ("inspect", "setup_srs", "setup", "prove"):
            args = args + vis
        r = timed([a.zkgrid, "--json", "--data-dir", dd] + args, idle=idle)
        out = r.pop("stdout")
        try:
            r["json"] = json.loads(out) if out.strip() else None
        except json.JSONDecodeError:
            r["json"] = None
            r["stdout_head"] = out[:2000]
        r["ok"] = r["rc"] == 0
        rec["steps"].setdefault(name, []).append(r)
        brief(name, r)
        if not r["ok"]:
            raise RuntimeError(f"zkgrid {model} {name} failed: {r.get('stderr_tail')}")
        return r

    log(f"== zkgrid {model}")
    step("compile", ["compile", onnx, "--calibration", data, "-o", zkg])
    acc = json.load(open(zkg))["report"]["accuracy"]
    rec["accuracy_calibration"] = acc
    insp = step("inspect", ["inspect", zkg])["json"]
    rec["shape"] = insp.get("shape")
    rec["estimated_proving_memory"] = insp.get("estimated_proving_memory")
    s1 = step("setup_srs", ["setup", zkg])  # generates the dev SRS (and keys) in the fresh dir
    rec["k"] = s1["json"]["k"]
    rec["lanes"] = s1["json"]["settings"]["params"]["lanes"]
    rec["srs_s"] = s1["json"]["timings"]["srs_s"]
    shutil.rmtree(os.path.join(dd, "keys"), ignore_errors=True)
    shutil.rmtree(os.path.join(dd, "vks"), ignore_errors=True)
    s2 = step("setup", ["setup", zkg], idle=a.wait_idle)  # keygen only (SRS cached)
    if s2["json"]["timings"]["cached"]:
        raise RuntimeError("second setup loaded cached keys; keygen not measured")
    rec["keygen_internal_s"] = s2["json"]["timings"]["keys_s"]
    for _ in range(a.proves):
        r = step("prove", ["prove", zkg, data, "-o", proof], idle=a.wait_idle)
        if not r["json"]["setup"]["cached"]:
            raise RuntimeError("prove regenerated keys; prove not measured alone")
    step("verify", ["verify", proof, "--model", zkg])
    b = json.load(open(proof))
    rec["proof_bytes"] = (len(b["proof"]) - 2) // 2 if isinstance(b.get("proof"), str) else None
    key_files = [os.path.join(r, f) for r, _, fs in os.walk(os.path.join(dd, "keys")) for f in fs]
    pk = [f for f in key_files if f.endswith("pk.bin")]
    rec["pk_mib"] = round(os.path.getsize(pk[0]) / 2**20, 1) if pk else None
    ref = os.path.join(mdir, "ref_output.json")
    if os.path.exists(ref):
        y = json.load(open(ref))["output"]
        got = b["output"]["dequantized"]
        rec["max_abs_err_vs_onnxruntime"] = max(abs(p - q) for p, q in zip(got, y))
    return rec


# ---------------------------------------------------------------- report


def med(xs):
    return statistics.median(xs) if xs else None


def f2(x, nd=2):
    return "-" if x is None else f"{x:.{nd}f}"


def machine():
    mem = open("/proc/meminfo").read()
    kb = int(re.search(r"MemTotal:\s+(\d+)", mem).group(1))
    cpu = re.search(r"model name\s*:\s*(.*)", open("/proc/cpuinfo").read())
    return {
        "nproc": os.cpu_count(),
        "ram_gib": round(kb / 2**20, 1),
        "cpu": cpu.group(1).strip() if cpu else platform.processor(),
        "kernel": platform.release(),
    }


def uptime():
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def summarise(run):
    rows, detail = [], []
    for model in run["models"]:
        e, z = run["ezkl"][model], run["zkgrid"][model]
        ep = e["steps"]["prove"]
        zp = z["steps"]["prove"]
        e_prove = med([r["secs"] for r in ep])
        e_rss = max(r["peak_rss_mib"] for r in ep)
        z_prove_wall = med([r["wall_s"] for r in zp])
        z_prove_int = med([r["json"]["prove"]["prove_s"] for r in zp])
        z_rss = max(r["peak_rss_mib"] for r in zp)
        e_kg = e["steps"]["setup"][0]["secs"]
        z_kg = z["keygen_internal_s"]
        speed = e_prove / z_prove_wall if z_prove_wall else None
        e_cpu, z_cpu = med([r["cpu_s"] for r in ep]), med([r["cpu_s"] for r in zp])
        cpu_speed = e_cpu / z_cpu if e_cpu and z_cpu else None
        ratio = z_rss / e_rss if e_rss else None
        ok = speed is not None and ratio is not None and speed >= 5 and ratio <= 0.5
        rows.append(
            f"| {model} | {e['logrows']} | {f2(e_kg)} | {f2(e_prove)} | {e_rss:.0f} | "
            f"{z['k']} | {f2(z_kg)} | {f2(z_prove_wall)} ({f2(z_prove_int)}) | {z_rss:.0f} | "
            f"{f2(speed, 1)}× | {f2(cpu_speed, 1)}× | {f2(ratio)} | {'yes' if ok else '**no**'} |")
        zs = z["shape"] or {}
        detail.append(
            f"| {model} | EZKL | logrows {e['logrows']}, {e['num_rows']} rows, scales {e['scales']} | "
            f"{f2(e['steps']['gen_srs'][0]['secs'])} | {f2(e_kg)} / {f2(e['steps']['setup'][0]['wall_s'])} / "
            f"{e['steps']['setup'][0]['peak_rss_mib']:.0f} | "
            f"{', '.join(f2(r['secs']) for r in ep)} | {', '.join(f2(r['wall_s']) for r in ep)} | "
            f"{f2(med([r['cpu_s'] for r in ep]), 1)} | {', '.join(f2(r['foreign_cpu_s'], 1) for r in ep)} | "
            f"{e_rss:.0f} | {e['pk_mib']} |")
        detail.append(
            f"| {model} | zkgrid | k {z['k']}, {zs.get('rows_used')} rows, lanes {z['lanes']}, "
            f"{zs.get('advice_columns')} advice / {zs.get('fixed_columns')} fixed (+{zs.get('selectors')} sel) / "
            f"{zs.get('lookups')} lookups, degree {zs.get('degree')} | "
            f"{f2(z['srs_s'])} | {f2(z_kg)} / {f2(z['steps']['setup'][0]['wall_s'])} / "
            f"{z['steps']['setup'][0]['peak_rss_mib']:.0f} | "
            f"{', '.join(f2(r['json']['prove']['prove_s']) for r in zp)} | "
            f"{', '.join(f2(r['wall_s']) for r in zp)} | "
            f"{f2(med([r['cpu_s'] for r in zp]), 1)} | {', '.join(f2(r['foreign_cpu_s'], 1) for r in zp)} | "
            f"{z_rss:.0f} | {z['pk_mib']} |")
    return rows, detail


def report(run):
    m = run["machine"]
    rows, detail = summarise(run)
    phases = []
    for model in run["models"]:
        for r in run["zkgrid"][model]["steps"]["prove"]:
            p, s = r["json"]["prove"], r["json"]["setup"]
            phases.append(
                f"| {model} | {f2(r['wall_s'])} | {f2(s['plan_s'])} | {f2(s['srs_s'])} | {f2(s['keys_s'])} | "
                f"{f2(p['witness_s'], 3)} | {f2(p['prove_s'])} | {f2(p['verify_s'], 3)} |")
    acc = [f"| {mo} | {f2(run['zkgrid'][mo].get('max_abs_err_vs_onnxruntime'), 4)} | "
           f"{run['zkgrid'][mo].get('proof_bytes')} | "
           f"{f2(run['zkgrid'][mo]['steps']['verify'][0]['json'].get('verify_s'), 3)} |"
           for mo in run["models"]]
    begin, end = markers(run.get("weights", "fixed"))
    weights_note = {
        "fixed": "Weights: fixed (both tools' default: in the verifying key).",
        "hashed": "Weights: private with a public Poseidon commitment (EZKL `param_visibility = "
                  "\"hashed/public\"`, zkgrid `--weights-visibility hashed`); input and output public.",
    }[run.get("weights", "fixed")]
    L = [
        begin,
        f"## Peer run {run['date']} (generated by `benches/peer/run.sh`)",
        "",
        weights_note,
        "",
        f"Command: `{run['command']}`  ",
        f"Machine: nproc {m['nproc']}, RAM {m['ram_gib']} GiB, CPU `{m['cpu']}`, kernel {m['kernel']}.  ",
        f"EZKL {run['ezkl_version']} (PyPI wheel, Python API via the peer's `ezkl_step.py`); zkgrid release "
        f"binary `{run['zkgrid_version']}` (git {run['git']}).  ",
        f"`uptime` before: `{run['uptime_before']}`  ",
        f"`uptime` after: `{run['uptime_after']}`  ",
        f"Proves per tool and model: {run['proves']}; before each keygen/prove the driver waited up to "
        f"{run['wait_idle']} s for other load to drop below 0.15 cores.",
        "",
        "### Side by side (keygen and prove; seconds wall, RSS = peak resident set of the process)",
        "",
        "EZKL: calibrated settings (`calibrate_settings` library defaults on input.json); keygen = `ezkl.setup`, "
        "prove = `ezkl.prove` (perf_counter inside the process, as the peer measured; it includes loading the pk "
        "from disk; the witness is made beforehand by `gen_witness`). zkgrid: keygen = `timings.keys_s` of "
        "`zkgrid --json setup` (SRS cached); prove = wall time of the whole `zkgrid prove` process (load model, "
        "SRS and cached pk, quantize input, witness, create_proof, native verify, write bundle) with "
        "`create_proof` alone in parentheses. Medians over the proves; RSS = max over the proves. "
        "Speedup (wall) = EZKL prove / zkgrid prove (process); speedup (CPU s) = median user+sys CPU seconds of "
        "the EZKL prove process / of the zkgrid prove process (robust to concurrent load); "
        "RSS ratio = zkgrid / EZKL. "
        "Target: speedup ≥ 5× and RSS ratio ≤ 0.5.",
        "",
        "| model | EZKL logrows | EZKL keygen s | EZKL prove s | EZKL prove RSS MiB | zkgrid k | zkgrid keygen s | "
        "zkgrid prove s (create_proof) | zkgrid prove RSS MiB | speedup (wall) | speedup (CPU s) | RSS ratio | "
        "target met |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        "### Details",
        "",
        "| model | tool | circuit | SRS gen s | keygen s (inner / process wall / peak RSS MiB) | prove inner s (each) | "
        "prove process wall s (each) | prove CPU s (median) | foreign CPU s (each) | prove peak RSS MiB | pk MiB |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
        *detail,
        "",
        "zkgrid `prove` phases from `zkgrid --json prove` (s): setup part (plan, SRS load, key load from cache) "
        "and proof part (witness, create_proof, native verify).",
        "",
        "| model | process wall | plan | SRS load | pk load | witness | create_proof | verify |",
        "|---|---|---|---|---|---|---|---|",
        *phases,
        "",
        "| model | zkgrid max abs err vs onnxruntime | zkgrid proof bytes | `zkgrid verify` s |",
        "|---|---|---|---|",
        *acc,
        "",
        "Foreign CPU = CPU seconds used by other processes on the machine while the step ran "
        f"(> ~1 s means the timing is contaminated by concurrent load). Raw records: `{run['raw']}`.",
        end,
    ]
    return "\n".join(L) + "\n"


def write_results(path, text, weights="fixed"):
    begin, end = markers(weights)
    old = open(path).read() if os.path.exists(path) else "# zkgrid benchmarks\n\n"
    if begin in old and end in old:
        new = old[:old.index(begin)] + text + old[old.index(end) + len(end) + 1:]
    else:
        new = old.rstrip("\n") + "\n\n" + text
    open(path, "w").write(new)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--zkgrid", required=True)
    ap.add_argument("--ezkl-py", required=True)
    ap.add_argument("--ezkl-step", required=True, help="the peer's ezkl_step.py (copy)")
    ap.add_argument("--models", required=True, help="dir with <model>/{network.onnx,input.json}")
    ap.add_argument("--names", default="mlp_small,mlp_wide,cnn_small")
    ap.add_argument("--work", required=True)
    ap.add_argument("--proves", type=int, default=3)
    ap.add_argument("--wait-idle", type=float, default=120.0)
    ap.add_argument("--results", required=True)
    ap.add_argument("--command", default="bash benches/peer/run.sh")
    ap.add_argument("--git", default="?")
    ap.add_argument("--weights", choices=["fixed", "hashed"], default="fixed",
                    help="weights visibility of both tools (hashed: EZKL hashed/public params)")
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    run = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": a.command, "git": a.git, "machine": machine(), "uptime_before": uptime(),
        "proves": a.proves, "wait_idle": a.wait_idle, "models": a.names.split(","),
        "weights": a.weights,
        "ezkl": {}, "zkgrid": {}, "raw": os.path.join(a.work, f"results-{a.weights}.json"),
        "ezkl_version": subprocess.run([a.ezkl_py, "-c", "import importlib.metadata as m; print(m.version('ezkl'))"],
                                       capture_output=True, text=True).stdout.strip(),
        "zkgrid_version": subprocess.run([a.zkgrid, "--version"], capture_output=True,
                                         text=True).stdout.strip(),
    }
    log(f"machine: {run['machine']}\nuptime: {run['uptime_before']}")
    for model in run["models"]:
        run["ezkl"][model] = ezkl_model(a, model)
        run["zkgrid"][model] = zkgrid_model(a, model)
        json.dump(run, open(run["raw"], "w"), indent=1)
    run["uptime_after"] = uptime()
    json.dump(run, open(run["raw"], "w"), indent=1)
    text = report(run)
    write_results(a.results, text, a.weights)
    print(text)
    log(f"wrote {a.results} and {run['raw']}")


if __name__ == "__main__":
    sys.exit(main())
