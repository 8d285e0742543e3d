#!/usr/bin/env python3
"""Verifier gas: zkgrid vs EZKL 23.0.5 on the zoo models (driven by evm_gas.sh).

Per case (zoo model x visibility):

zkgrid: compile network.onnx --calibration calibration.json -> prove input.json
  (--input-visibility public|hashed, output public) -> `zkgrid --json evm gas proof.json`
  (deploys the generated verifier + VK code contracts on revm, verifyProof transaction gas).
snark-verifier: the reference verifier snark-verifier-sdk 0.2.7 generates for the same
  verifying key, measured by the gas_zoo_rows test (revm) -- rows passed in with --reference.
EZKL: gen_settings (input public | hashed | private, output public, params fixed) ->
  calibrate_settings (library defaults, on calibration.json) -> compile_circuit -> gen_srs ->
  gen_witness (input.json) -> setup -> prove -> create_evm_verifier -> encode_evm_calldata, each
  step through the peer's ezkl_step.py. The Solidity verifier is compiled with the pinned solc-js
  of verifier-contracts/ (optimizer on, runs = 1, as ezkl.deploy_evm's default), deployed on a
  local anvil (127.0.0.1), and verified with a real transaction: gas = its receipt's gasUsed.

Writes <work>/evm_gas.json and a markdown table between the
<!-- BEGIN evm-gas --> / <!-- END evm-gas --> markers of --results (other text is kept).
"""
import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import time
import urllib.request

BEGIN, END = "<!-- BEGIN evm-gas -->", "<!-- END evm-gas -->"
EZKL_VIS = {"public": "public", "hashed": "hashed", "private": "private"}


def run(cmd, **kw):
    p = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))[:300]} failed ({p.returncode}): {p.stderr[-1500:]}")
    return p.stdout


class Anvil:
    def __init__(self, binary, port, log):
        self.url = f"http://127.0.0.1:{port}"
        self.p = subprocess.Popen([binary, "--host", "127.0.0.1", "--port", str(port),
                                   "--code-size-limit", "41943040", "--disable-block-gas-limit"],
                                  stdout=log, stderr=subprocess.STDOUT)
        for _ in range(200):
            try:
                self.rpc("eth_chainId", [])
                break
            except Exception:  # noqa: BLE001 - not up yet
                time.sleep(0.1)
        self.sender = self.rpc("eth_accounts", [])[0]

    def rpc(self, method, params):
        req = urllib.request.Request(self.url, data=json.dumps(
            {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode(),
            headers={"Content-Type": "application/json"})
        r = json.load(urllib.request.urlopen(req, timeout=120))
        if "error" in r:
            raise RuntimeError(f"{method}: {r['error']}")
        return r["result"]

    def receipt(self, tx):
        for _ in range(600):
            rc = self.rpc("eth_getTransactionReceipt", [tx])
            if rc:
                return rc
            time.sleep(0.05)
        raise RuntimeError(f"no receipt for {tx}")

    def stop(self):
        self.p.terminate()
        self.p.wait()


def solc_compile(solc_js, source, name):
    """Compile with the pinned solc-js (standard JSON); returns (creation hex, runtime bytes)."""
    std = {"language": "Solidity", "sources": {"Verifier.sol": {"content": source}},
           "settings": {"optimizer": {"enabled": True, "runs": 1},
                        "outputSelection": {"*": {"*": ["evm.bytecode.object", "evm.deployedBytecode.object"]}}}}
    out = json.loads(run(["node", solc_js], input=json.dumps(std)))
    errs = [e for e in out.get("errors", []) if e.get("severity") == "error"]
    if errs:
        raise RuntimeError("solc: " + "; ".join(e.get("formattedMessage", e.get("message", ""))[:300] for e in errs))
    contracts = out["contracts"]["Verifier.sol"]
    c = contracts.get(name) or next(iter(contracts.values()))
    return c["evm"]["bytecode"]["object"], len(c["evm"]["deployedBytecode"]["object"]) // 2


def ezkl_case(a, model_dir, model, vis, anvil):
    w = os.path.join(a.work, "ezkl", model, vis)
    os.makedirs(w, exist_ok=True)
    P = {k: os.path.join(w, v) for k, v in dict(
        settings="settings.json", compiled="model.compiled", witness="witness.json", vk="vk.key",
        pk="pk.key", proof="proof.json", sol="Verifier.sol", abi="abi.json",
        calldata="calldata.bytes").items()}
    onnx = os.path.join(model_dir, "network.onnx")
    rec = {"steps": {}}

    def step(name, **kw):
        kw["step"] = name
        t = time.perf_counter()
        # The exit status is not checked: EZKL 23.0.5's create_evm_verifier can abort at
        # interpreter shutdown (PyGILState_Release) after it has finished and printed RESULT.
        p = subprocess.run(["nice", "-n", str(a.nice), a.ezkl_py, a.ezkl_step, json.dumps(kw)],
                           capture_output=True, text=True)
        res = [json.loads(line[7:]) for line in p.stdout.splitlines() if line.startswith("RESULT ")]
        if not res or not res[-1]["ok"]:
            raise RuntimeError(f"ezkl {name}: {res[-1]['err'] if res else (p.stdout + p.stderr)[-800:]}")
        if p.returncode != 0:
            rec.setdefault("exit_after_result", {})[name] = p.returncode
        rec["steps"][name] = round(time.perf_counter() - t, 2)
        return res[-1]

    step("gen_settings", model=onnx, settings=P["settings"],
         run_args={"input_visibility": EZKL_VIS[vis], "output_visibility": "public", "param_visibility": "fixed"})
    step("calibrate_settings", data=os.path.join(model_dir, "calibration.json"), model=onnx, settings=P["settings"])
    s = json.load(open(P["settings"]))
    lr = s["run_args"]["logrows"]
    rec["logrows"] = lr
    rec["run_args"] = {k: s["run_args"].get(k) for k in ("input_visibility", "output_visibility", "param_visibility")}
    step("compile_circuit", model=onnx, compiled=P["compiled"], settings=P["settings"])
    srs = os.path.join(a.work, "ezkl-srs", f"kzg{lr}.srs")
    os.makedirs(os.path.dirname(srs), exist_ok=True)
    if not os.path.exists(srs):
        step("gen_srs", srs=srs, logrows=lr)
    step("gen_witness", data=os.path.join(model_dir, "input.json"), compiled=P["compiled"], witness=P["witness"])
    step("setup", compiled=P["compiled"], vk=P["vk"], pk=P["pk"], srs=srs)
    step("prove", witness=P["witness"], compiled=P["compiled"], pk=P["pk"], proof=P["proof"], srs=srs)
    if os.path.exists(P["sol"]):
        os.remove(P["sol"])
    try:
        step("create_evm_verifier", vk=P["vk"], settings=P["settings"], sol=P["sol"], abi=P["abi"], srs=srs)
    except RuntimeError as e:
        # create_evm_verifier writes Verifier.sol, then compiles it for the ABI with a native
        # solc that svm downloads (no network here). We compile Verifier.sol ourselves below.
        if "svm error" not in str(e) or not os.path.exists(P["sol"]):
            raise
        rec["create_evm_verifier_note"] = "Verifier.sol written; EZKL's own ABI compile needs a solc download (svm), skipped"
    step("encode_evm_calldata", proof=P["proof"], calldata=P["calldata"])
    os.remove(P["pk"])  # up to ~0.6 GiB
    proof = json.load(open(P["proof"]))
    rec["instances"] = sum(len(x) for x in proof["instances"])
    rec.update(ezkl_on_chain(a, w, anvil))
    return rec


def ezkl_on_chain(a, w, anvil):
    """Compile EZKL's Verifier.sol, deploy it on anvil, verify with a real transaction, and check
    that the same calldata with the last public instance changed is rejected."""
    rec = {}
    creation, runtime_bytes = solc_compile(a.solc_js, open(os.path.join(w, "Verifier.sol")).read(), "Halo2Verifier")
    rec["runtime_bytes"] = runtime_bytes
    tx = anvil.rpc("eth_sendTransaction", [{"from": anvil.sender, "data": "0x" + creation, "gas": hex(30_000_000)}])
    rc = anvil.receipt(tx)
    if rc["status"] != "0x1":
        raise RuntimeError("EZKL verifier deployment failed")
    addr = rc["contractAddress"]
    rec["deploy_gas"] = int(rc["gasUsed"], 16)
    rec["deployed_code_bytes"] = (len(anvil.rpc("eth_getCode", [addr, "latest"])) - 2) // 2
    cd = open(os.path.join(w, "calldata.bytes"), "rb").read()
    rec["calldata_bytes"] = len(cd)
    call = {"from": anvil.sender, "to": addr, "data": "0x" + cd.hex()}
    ret = anvil.rpc("eth_call", [call, "latest"])
    rec["eth_call_true"] = ret not in ("0x", "") and int(ret, 16) == 1
    rec["verify_gas_estimate"] = int(anvil.rpc("eth_estimateGas", [call]), 16)
    tx = anvil.rpc("eth_sendTransaction", [dict(call, gas=hex(rec["verify_gas_estimate"] + 100_000))])
    rc = anvil.receipt(tx)
    rec["verify_tx_ok"] = rc["status"] == "0x1"
    rec["verify_gas"] = int(rc["gasUsed"], 16)
    # verifyProof(bytes proof, uint256[] instances): change the last element of `instances`
    # (located through the ABI head; the calldata may carry trailing bytes)
    word = lambda at: int.from_bytes(cd[at:at + 32], "big")  # noqa: E731
    inst = 4 + word(4 + 32)
    n = word(inst)
    last = inst + 32 * n  # start of the last instance word
    bad = bytearray(cd)
    bad[last + 31] ^= 1
    try:
        r = anvil.rpc("eth_call", [dict(call, data="0x" + bytes(bad).hex()), "latest"])
        rec["tampered_rejected"] = r in ("0x", "") or int(r, 16) != 1
    except RuntimeError:
        rec["tampered_rejected"] = True
    return rec


def zkgrid_case(a, model_dir, model, vis):
    w = os.path.join(a.work, "zkgrid", model)
    os.makedirs(w, exist_ok=True)
    data = os.path.join(a.work, "zkgrid-data")
    env = dict(os.environ, ZKGRID_DATA_DIR=data)
    zk = ["nice", "-n", str(a.nice), a.zkgrid]
    compiled = os.path.join(w, "model.zkg.json")
    if not os.path.exists(compiled):
        run(zk + ["compile", os.path.join(model_dir, "network.onnx"), "--calibration",
                  os.path.join(model_dir, "calibration.json"), "-o", compiled], env=env)
    proof = os.path.join(w, f"proof-{vis}.json")
    # "hashed+gas": hashed input, planned with --optimize gas (default goal otherwise)
    base, _, goal = vis.partition("+")
    t = time.perf_counter()
    run(zk + ["--json", "prove", compiled, os.path.join(model_dir, "input.json"), "--input-visibility", base,
              "--recipient", "0x" + "b2" * 20, "-o", proof] + (["--optimize", goal] if goal else []), env=env)
    rec = {"setup_prove_s": round(time.perf_counter() - t, 2)}
    gas = json.loads(run(zk + ["--json", "evm", "gas", proof], env=env))
    if not gas.get("accepted"):
        raise RuntimeError("zkgrid's verifier rejected its proof on revm")
    rec.update({k: gas[k] for k in ("verify_gas", "deploy_gas", "calldata_bytes", "instances",
                                    "verifier_runtime_bytes", "vk_runtime_bytes")})
    rec["k"] = json.load(open(proof))["k"]
    return rec


def ref_ours(records, reference):
    """How far ours on the reference test's proof is from ours on the CLI's proof."""
    diffs = []
    for r in records:
        t = (reference.get((r["model"], r["visibility"])) or {}).get("totals") or {}
        z = (r.get("zkgrid") or {}).get("verify_gas")
        if t.get("ours") and z:
            diffs.append(abs(t["ours"] - z) / z)
    return f"within {max(diffs) * 100:.2f}% of the zkgrid column" if diffs else "not available"


def ref_when(path):
    """When the reference rows were measured (the file's modification time)."""
    try:
        t = datetime.datetime.fromtimestamp(os.path.getmtime(path), datetime.timezone.utc)
        return f"a gas_zoo_rows run of {t:%Y-%m-%d %H:%M} UTC"
    except OSError:
        return "no gas_zoo_rows run"


def fmt(v):
    return f"{v:,}" if isinstance(v, int) else ("–" if v is None else str(v))


def table(records, reference):
    lines = ["| model | visibility | instances (ours / EZKL) | zkgrid gas (revm) | snark-verifier ref. gas (revm) | EZKL gas (anvil tx) | ours / EZKL | zkgrid runtime B (verifier + VK code) | ref. runtime B | EZKL runtime B | k / EZKL logrows |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in records:
        z, e = r.get("zkgrid") or {}, r.get("ezkl") or {}
        ref = reference.get((r["model"], r["visibility"])) or {}
        t = ref.get("totals") or {}
        zg, eg = z.get("verify_gas"), e.get("verify_gas")
        ratio = f"{zg / eg:.2f}" if zg and eg else "–"
        vk = z.get("vk_runtime_bytes") or []
        zsize = f"{fmt(z.get('verifier_runtime_bytes'))} + {' + '.join(fmt(b) for b in vk)}" if z else "–"
        vis = r["visibility"] + (f" (EZKL: {r['ezkl_visibility']})" if r.get("ezkl_visibility") != r["visibility"] else "")
        lines.append(f"| {r['model']} | {vis} | {fmt(z.get('instances'))} / {fmt(e.get('instances'))} | "
                     f"{fmt(zg)} | {fmt(t.get('reference')) if t else ('error' if ref.get('error') else '–')} | "
                     f"{fmt(eg)} | {ratio} | {zsize} | {fmt(t.get('reference_bytes'))} | "
                     f"{fmt(e.get('runtime_bytes'))} | {fmt(z.get('k'))} / {fmt(e.get('logrows'))} |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--zkgrid", required=True)
    ap.add_argument("--ezkl-py", required=True)
    ap.add_argument("--ezkl-step", required=True)
    ap.add_argument("--solc-js", required=True)
    ap.add_argument("--anvil", required=True)
    ap.add_argument("--zoo", required=True, help="directory written by `zkgrid zoo export all`")
    ap.add_argument("--cases", required=True, help="model:visibility[:ezkl visibility],...")
    ap.add_argument("--reference", help="file with the gas_zoo_rows test output (GAS_ROW lines)")
    ap.add_argument("--work", required=True)
    ap.add_argument("--nice", type=int, default=10)
    ap.add_argument("--reuse", action="store_true",
                    help="keep error-free records of an earlier run (<work>/evm_gas.json) instead of re-measuring")
    ap.add_argument("--reuse-ezkl", action="store_true",
                    help="keep only the EZKL part of earlier records (its on-chain gas is re-measured); "
                         "zkgrid is measured again (after a change to zkgrid's circuits or verifier)")
    ap.add_argument("--results")
    ap.add_argument("--command", default="")
    ap.add_argument("--git", default="")
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    reference = {}
    if a.reference and os.path.exists(a.reference):
        for line in open(a.reference):
            if line.startswith("GAS_ROW "):
                row = json.loads(line[8:])
                reference[(row["model"], row["visibility"])] = row
    previous = {}
    raw = os.path.join(a.work, "evm_gas.json")
    if (a.reuse or a.reuse_ezkl) and os.path.exists(raw):
        for r in json.load(open(raw))["records"]:
            if "zkgrid" in r and "ezkl" in r:
                previous[(r["model"], r["visibility"], r["ezkl_visibility"])] = r
    log = open(os.path.join(a.work, "anvil.log"), "w")
    anvil = Anvil(a.anvil, 18545 + os.getpid() % 1000, log)
    records = []
    started = datetime.datetime.now(datetime.timezone.utc)
    try:
        for case in a.cases.split(","):
            parts = case.split(":")
            model, vis = parts[0], parts[1]
            ezkl_vis = parts[2] if len(parts) > 2 else vis.partition("+")[0]
            model_dir = os.path.join(a.zoo, model)
            # EZKL does not depend on our planner goal: "hashed+gas" reuses EZKL's "hashed" record
            key = (model, vis, ezkl_vis)
            if a.reuse_ezkl and key not in previous and (model, vis.partition("+")[0], ezkl_vis) in previous:
                previous[key] = previous[(model, vis.partition("+")[0], ezkl_vis)]
            if a.reuse_ezkl and (model, vis, ezkl_vis) in previous:
                r = {"model": model, "visibility": vis, "ezkl_visibility": ezkl_vis}
                print(f"== {model} / {vis} (EZKL {ezkl_vis} reused)", flush=True)
                try:
                    r["zkgrid"] = zkgrid_case(a, model_dir, model, vis)
                except Exception as e:  # noqa: BLE001 - record and go on
                    r["zkgrid_error"] = str(e)
                r["ezkl"] = previous[(model, vis, ezkl_vis)]["ezkl"]
                r["ezkl"].update(ezkl_on_chain(a, os.path.join(a.work, "ezkl", model, ezkl_vis), anvil))
                print(json.dumps(r), flush=True)
                records.append(r)
                continue
            if (model, vis, ezkl_vis) in previous:
                # proofs and verifiers reused; the on-chain part is re-measured (cheap)
                r = previous[(model, vis, ezkl_vis)]
                r["ezkl"].update(ezkl_on_chain(a, os.path.join(a.work, "ezkl", model, ezkl_vis), anvil))
                print(f"== {model} / {vis} (EZKL {ezkl_vis}): reused; " + json.dumps(r), flush=True)
                records.append(r)
                continue
            r = {"model": model, "visibility": vis, "ezkl_visibility": ezkl_vis}
            print(f"== {model} / {vis} (EZKL {ezkl_vis})", flush=True)
            try:
                r["zkgrid"] = zkgrid_case(a, model_dir, model, vis)
            except Exception as e:  # noqa: BLE001 - record and go on
                r["zkgrid_error"] = str(e)
            try:
                r["ezkl"] = ezkl_case(a, model_dir, model, ezkl_vis, anvil)
            except Exception as e:  # noqa: BLE001
                r["ezkl_error"] = str(e)
            print(json.dumps(r), flush=True)
            records.append(r)
    finally:
        anvil.stop()
    json.dump({"records": records, "reference": [v for v in reference.values()]},
              open(os.path.join(a.work, "evm_gas.json"), "w"), indent=1)
    ezkl_version = run([a.ezkl_py, "-c", "import importlib.metadata as m; print(m.version('ezkl'))"]).strip()
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    errors = [f"- {r['model']} / {r['visibility']}: {k}: {r[k][:400]}" for r in records for k in ("zkgrid_error", "ezkl_error") if k in r]
    errors += [f"- {m} / {v}: reference: {row['error'][:400]}" for (m, v), row in reference.items() if "error" in row]
    ok = [f"{r['model']}/{r['ezkl_visibility']}" for r in records if r.get("ezkl", {}).get("eth_call_true") and r["ezkl"].get("verify_tx_ok") and r["ezkl"].get("tampered_rejected")]
    md = "\n".join([
        f"Run {started:%Y-%m-%d %H:%M} UTC at `{a.git}`: `{a.command}`",
        f"on {platform.node()} ({os.cpu_count()} cores, {cpu}; load average at the end "
        f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}; heavy steps at nice {a.nice}); "
        f"EZKL {ezkl_version} (venv), anvil from verifier-contracts' pinned npm package, solc-js pinned there.",
        "",
        table(records, reference),
        "",
        "zkgrid gas: `zkgrid --json evm gas proof.json` (revm, verifyProof transaction total incl. 21,000 + calldata). "
        "snark-verifier ref.: `gas_zoo_rows` in verifier-contracts/tests/gas.rs (revm, unoptimized solc, no "
        "EIP-170 limit; same model, visibility, input and default column budget, on the test's own proof; rows "
        "from " + ref_when(a.reference) + " -- the test also measured ours on that proof then: "
        + ref_ours(records, reference) + "). EZKL gas: gasUsed of a real verify transaction on anvil "
        "(`Halo2Verifier` from create_evm_verifier, calldata from encode_evm_calldata). "
        f"EZKL verifiers that accepted their proof (eth_call and transaction) and rejected a changed last instance: {', '.join(ok) or 'none'}.",
    ] + (["", "Failures:"] + errors if errors else []))
    print(md)
    if a.results:
        text = open(a.results).read() if os.path.exists(a.results) else ""
        block = f"{BEGIN}\n{md}\n{END}"
        if BEGIN in text and END in text:
            text = text[:text.index(BEGIN)] + block + text[text.index(END) + len(END):]
        else:
            text = text.rstrip() + "\n\n" + block + "\n"
        open(a.results, "w").write(text)


if __name__ == "__main__":
    sys.exit(main())
