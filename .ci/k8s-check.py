"""Checks deploy/k8s offline; run by .ci/k8s (which makes the venv and finds kubectl).

Renders each entry point (a kustomization no other one includes: single-node, replicas) with
`kubectl kustomize`, validates what it renders and every *.example.yaml with
kubernetes-validate --strict, then checks what a schema cannot say (see `check_build`).

--negative-controls breaks a copy of deploy/k8s in one way at a time and requires each check
to fail on its breakage: a check that cannot fail checks nothing.
"""

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

# After PAYTREE_SHUTDOWN_GRACE_MS, paytree still waits for requests whose command had started;
# the kernel bounds such a command at 36 s with the default timeouts (src/serve.rs,
# STARTED_WAIT's comment). The pod must be given that much beyond unready + grace.
STARTED_COMMAND_S = 36
# paytree's defaults for the two drain settings (src/config.rs, README's table).
DEFAULT_UNREADY_MS, DEFAULT_GRACE_MS = 0, 10_000

WORKLOADS = ("Deployment", "StatefulSet")


def known_settings(src: Path) -> set[str]:
    """PAYTREE_* names paytree reads: the settings of src/config.rs (`field: T = "PAYTREE_X";`),
    clap's `env = "PAYTREE_X"` and `env::var("PAYTREE_X")` anywhere in src/."""
    names = set(re.findall(r'=\s*"(PAYTREE_[A-Z0-9_]+)"\s*;', (src / "config.rs").read_text()))
    for f in src.rglob("*.rs"):
        text = f.read_text()
        names |= set(re.findall(r'env\s*=\s*"(PAYTREE_[A-Z0-9_]+)"', text))
        names |= set(re.findall(r'env::var\(\s*"(PAYTREE_[A-Z0-9_]+)"', text))
    if "PAYTREE_LISTEN" not in names:
        sys.exit(f"no PAYTREE_LISTEN found in {src}: the pattern for settings is out of date")
    return names


def load_kustomizations(root: Path) -> dict[Path, dict]:
    return {k.parent: yaml.safe_load(k.read_text()) for k in sorted(root.rglob("kustomization.yaml"))}


def referenced_files(kdir: Path, k: dict) -> tuple[set[Path], set[Path]]:
    """Files a kustomization names (resources, patches, generators' files) and the
    directories it includes (resources that are directories, components)."""
    files, dirs = set(), set()
    for entry in k.get("resources", []) + k.get("components", []):
        p = (kdir / entry).resolve()
        (dirs if p.is_dir() else files).add(p)
    for patch in k.get("patches", []) + k.get("patchesStrategicMerge", []):
        path = patch.get("path") if isinstance(patch, dict) else patch
        if path:
            files.add((kdir / path).resolve())
    for gen in k.get("configMapGenerator", []) + k.get("secretGenerator", []):
        for f in gen.get("envs", []) + gen.get("files", []):
            files.add((kdir / f.split("=")[-1]).resolve())
    return files, dirs


def check_layout(root: Path, kusts: dict[Path, dict], errors: list[str]) -> list[Path]:
    """Every manifest is applied by some kustomization, no example is, and the entry points
    are the kustomizations that nothing includes. Returns the entry points."""
    used, included = set(), set()
    for kdir, k in kusts.items():
        files, dirs = referenced_files(kdir, k)
        used |= files
        included |= dirs
    for f in sorted(root.rglob("*")):
        if f.suffix not in (".yaml", ".yml", ".env") or f.name == "kustomization.yaml":
            continue
        rel = f.relative_to(root)
        if f.name.endswith(".example.yaml"):
            if f.resolve() in used:
                errors.append(f"{rel} is an example but a kustomization applies it")
        elif f.resolve() not in used:
            errors.append(f"{rel} is not part of any kustomization (name it *.example.yaml "
                          "if it is not meant to be applied)")
    entries = [d for d, k in kusts.items()
               if k.get("kind", "Kustomization") == "Kustomization" and d.resolve() not in included]
    if not entries:
        errors.append("no entry point: every kustomization is included by another")
    return entries


def render(kdir: Path, out: Path, errors: list[str]) -> list[dict]:
    r = subprocess.run(["kubectl", "kustomize", str(kdir)], capture_output=True, text=True)
    if r.returncode != 0:
        errors.append(f"kubectl kustomize {kdir.name} failed: {r.stderr.strip()}")
        return []
    out.write_text(r.stdout)
    return [d for d in yaml.safe_load_all(r.stdout) if d]


def matches(selector: dict, labels: dict) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def ns(doc: dict) -> str | None:
    return doc["metadata"].get("namespace")


def pods(workload: dict) -> dict:
    return workload["spec"]["template"]


def containers(workload: dict) -> list[dict]:
    return pods(workload)["spec"]["containers"]


def settings_of(workload: dict, docs: list[dict]) -> dict[str, str]:
    """The environment a workload's containers get from ConfigMaps (envFrom) and literal env."""
    maps = {(ns(d), d["metadata"]["name"]): d.get("data", {}) for d in docs if d["kind"] == "ConfigMap"}
    env: dict[str, str] = {}
    for c in containers(workload):
        for src in c.get("envFrom", []):
            if "configMapRef" in src:
                env |= maps.get((ns(workload), src["configMapRef"]["name"]), {})
        env |= {e["name"]: e["value"] for e in c.get("env", []) if "value" in e}
    return env


def pdb_bounds(pdb: dict, replicas: int) -> tuple[int, int]:
    """(pods a voluntary disruption may take, pods it must leave) at this many replicas."""
    spec = pdb["spec"]

    def count(v, round_up):
        if isinstance(v, str) and v.endswith("%"):
            share = int(v[:-1]) * replicas
            return -(-share // 100) if round_up else share // 100
        return int(v)

    if "maxUnavailable" in spec:
        down = count(spec["maxUnavailable"], True)
        return min(down, replicas), replicas - min(down, replicas)
    up = count(spec.get("minAvailable", 1), True)
    return max(replicas - up, 0), min(up, replicas)


def check_build(name: str, docs: list[dict], examples: list[dict], errors: list[str]) -> None:
    """What a schema cannot say about one entry point's rendered objects."""
    def fail(msg):
        errors.append(f"{name}: {msg}")

    workloads = [d for d in docs if d["kind"] in WORKLOADS]
    if not workloads:
        fail("renders no workload")
    for w in workloads:
        wid = f"{w['kind']} {w['metadata']['name']}"
        want, have = w["spec"]["selector"]["matchLabels"], pods(w)["metadata"].get("labels", {})
        if not matches(want, have):
            fail(f"{wid}: selector {want} does not match its pods' labels {have}")
        # Probes as the README's Operations section says: liveness on /healthz only (a full
        # disk or a store out of reach fails /readyz, and a restart would not help).
        for c in containers(w):
            for probe, path in (("startupProbe", "/healthz"), ("readinessProbe", "/readyz"),
                                ("livenessProbe", "/healthz")):
                got = c.get(probe, {}).get("httpGet", {}).get("path")
                if got != path:
                    fail(f"{wid}: container {c['name']}: {probe} must GET {path}, has {got}")
            # The single-node hardening, for every mode.
            sc, psc = c.get("securityContext", {}), pods(w)["spec"].get("securityContext", {})
            hard = (psc.get("runAsNonRoot") is True
                    and psc.get("seccompProfile", {}).get("type") == "RuntimeDefault"
                    and sc.get("allowPrivilegeEscalation") is False
                    and sc.get("readOnlyRootFilesystem") is True
                    and sc.get("capabilities", {}).get("drop") == ["ALL"])
            if not hard:
                fail(f"{wid}: container {c['name']} is less locked down than single-node "
                     "(runAsNonRoot, seccomp RuntimeDefault, no privilege escalation, "
                     "read-only root, all capabilities dropped)")
        # The drain fits in the pod's grace period: unready, then grace, then a started
        # command's bound; past terminationGracePeriodSeconds the kubelet kills.
        env = settings_of(w, docs)
        unready = int(env.get("PAYTREE_SHUTDOWN_UNREADY_MS", DEFAULT_UNREADY_MS))
        grace = int(env.get("PAYTREE_SHUTDOWN_GRACE_MS", DEFAULT_GRACE_MS))
        period = pods(w)["spec"].get("terminationGracePeriodSeconds", 30)
        need_ms = unready + grace + STARTED_COMMAND_S * 1000
        if period * 1000 <= need_ms:
            fail(f"{wid}: terminationGracePeriodSeconds {period} is not above unready {unready} ms "
                 f"+ grace {grace} ms + a started command's {STARTED_COMMAND_S} s")
        # Every Secret key the pods read is in an example Secret, so that one made from the
        # examples starts the pods.
        for c in containers(w):
            for e in c.get("env", []):
                ref = e.get("valueFrom", {}).get("secretKeyRef")
                if not ref:
                    continue
                if not any(x["kind"] == "Secret" and x["metadata"]["name"] == ref["name"]
                           and ns(x) == ns(w)
                           and ref["key"] in (x.get("stringData", {}) | x.get("data", {}))
                           for x in examples):
                    fail(f"{wid}: reads key {ref['key']} of Secret {ref['name']}, which no "
                         "*.example.yaml Secret in its namespace shows how to make")

    for s in (d for d in docs if d["kind"] == "Service"):
        sel = s["spec"].get("selector", {})
        selected = [w for w in workloads if ns(w) == ns(s) and matches(sel, pods(w)["metadata"]["labels"])]
        if not selected:
            fail(f"Service {s['metadata']['name']} selects no workload's pods: {sel}")
        for port in s["spec"]["ports"]:
            target = port.get("targetPort", port["port"])
            for w in selected:
                ports = [p for c in containers(w) for p in c.get("ports", [])]
                if not any(p.get("name") == target or p["containerPort"] == target for p in ports):
                    fail(f"Service {s['metadata']['name']}: targetPort {target} is no port of "
                         f"{w['kind']} {w['metadata']['name']}")

    hpas = [d for d in docs if d["kind"] == "HorizontalPodAutoscaler"]
    scaled: dict[int, int] = {}  # id(workload) -> minReplicas
    for h in hpas:
        ref, hid = h["spec"]["scaleTargetRef"], f"HorizontalPodAutoscaler {h['metadata']['name']}"
        targets = [w for w in workloads
                   if w["kind"] == ref["kind"] and w["metadata"]["name"] == ref["name"]
                   and w["apiVersion"] == ref.get("apiVersion") and ns(w) == ns(h)]
        if not targets:
            fail(f"{hid}: scaleTargetRef {ref} names no workload of this build")
            continue
        w = targets[0]
        scaled[id(w)] = h["spec"].get("minReplicas", 1)
        # `kubectl apply` would set a count written in the manifest again on every apply.
        if "replicas" in w["spec"]:
            fail(f"{hid} scales {w['kind']} {w['metadata']['name']}, which must then not set "
                 "spec.replicas (every apply would scale it back)")
        for m in h["spec"].get("metrics", []):
            if m["type"] == "Resource" and m["resource"]["target"]["type"] == "Utilization":
                r = m["resource"]["name"]
                for c in containers(w):
                    if r not in c.get("resources", {}).get("requests", {}):
                        fail(f"{hid} scales on {r} utilization but container {c['name']} "
                             f"requests no {r}: the autoscaler cannot compute it")

    for p in (d for d in docs if d["kind"] == "PodDisruptionBudget"):
        pid, sel = f"PodDisruptionBudget {p['metadata']['name']}", p["spec"]["selector"]["matchLabels"]
        covered = [w for w in workloads if ns(w) == ns(p) and matches(sel, pods(w)["metadata"]["labels"])]
        if len(covered) != 1:
            fail(f"{pid}: selector {sel} matches {len(covered)} workloads' pods, not one")
            continue
        w = covered[0]
        least = scaled.get(id(w), w["spec"].get("replicas", 1))
        down, left = pdb_bounds(p, least)
        if down < 1 or left < 1:
            fail(f"{pid}: at {least} replicas it lets {down} pod(s) go and keeps {left}: a node "
                 "drain must be able to take one and leave one serving")


def check(root: Path, src: Path, out: Path, validate: str | None) -> tuple[list[str], list[str]]:
    errors: list[str] = []
    notes: list[str] = []
    kusts = load_kustomizations(root)
    entries = check_layout(root, kusts, errors)

    # Every PAYTREE_* name in deploy/k8s (manifests, settings files, comments, README) is a
    # setting paytree knows.
    known = known_settings(src)
    for f in sorted(p for p in root.rglob("*") if p.is_file()):
        for name in sorted(set(re.findall(r"\bPAYTREE_[A-Z0-9_]+", f.read_text()))):
            if name not in known:
                errors.append(f"{f.relative_to(root)}: {name} is no setting paytree knows")

    example_files = sorted(root.rglob("*.example.yaml"))
    examples = [d for f in example_files for d in yaml.safe_load_all(f.read_text()) if d]
    out.mkdir(parents=True, exist_ok=True)
    rendered = []
    for kdir in entries:
        target = out / f"{kdir.name}.yaml"
        docs = render(kdir, target, errors)
        if docs:
            rendered.append(target)
            check_build(kdir.name, docs, examples, errors)
            notes.append(f"{kdir.relative_to(root.parent.parent)}: "
                         + ", ".join(f"{d['kind']} {d['metadata']['name']}" for d in docs))

    # The schemas: every rendered object and every example, strict (no unknown field),
    # against Kubernetes 1.37 and 1.27, the oldest these manifests are written for.
    if validate:
        for version in ("1.37.0", "1.27.0"):
            r = subprocess.run([validate, "--strict", "--quiet", "-k", version,
                                *map(str, rendered + example_files)], capture_output=True, text=True)
            if r.returncode != 0:
                errors.append(f"kubernetes-validate --strict -k {version}: {(r.stdout + r.stderr).strip()}")
    return errors, notes


# (file under deploy/k8s, text in it, replacement, what the failure must say)
NEGATIVE_CONTROLS = [
    ("replicas/kustomization.yaml", "  - pdb.yaml\n", "  - pdb.yaml\n  - missing.yaml\n",
     "kubectl kustomize replicas failed"),
    ("replicas/deployment.yaml", "revisionHistoryLimit: 5", "revisionHistoryLimt: 5",
     "'revisionHistoryLimt' was unexpected"),
    # A field Kubernetes 1.27 does not have (1.30's): valid for 1.37, not for the oldest.
    ("base/service.yaml", "spec:\n", "spec:\n  trafficDistribution: PreferClose\n",
     "-k 1.27.0: ERROR"),
    ("replicas/deployment.yaml", "      labels:\n        app.kubernetes.io/name: paytree\n",
     "      labels:\n        app.kubernetes.io/name: paytree-api\n",
     "Deployment paytree: selector"),
    ("base/service.yaml", "  selector:\n    app.kubernetes.io/name: paytree\n",
     "  selector:\n    app.kubernetes.io/name: paytre\n", "selects no workload's pods"),
    ("base/service.yaml", "targetPort: http", "targetPort: web", "targetPort web is no port"),
    ("pod/pod.yaml", "path: /healthz\n              port: http\n            periodSeconds: 10",
     "path: /readyz\n              port: http\n            periodSeconds: 10",
     "livenessProbe must GET /healthz"),
    ("pod/pod.yaml", "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false",
     "less locked down than single-node"),
    ("base/settings.env", "PAYTREE_SHUTDOWN_GRACE_MS=10000", "PAYTREE_SHUTDOWN_GRACE_MS=30000",
     "terminationGracePeriodSeconds 60 is not above"),
    ("base/settings.env", "PAYTREE_SHUTDOWN_GRACE_MS=", "PAYTREE_SHUTDOWN_GRACE=",
     "PAYTREE_SHUTDOWN_GRACE is no setting paytree knows"),
    ("replicas/secret.example.yaml", "  PAYTREE_SECRET: ", "  PAYTREE_SECRETS: ",
     "reads key PAYTREE_SECRET of Secret paytree"),
    ("replicas/hpa.yaml", "    name: paytree\n  minReplicas", "    name: paytree-api\n  minReplicas",
     "names no workload of this build"),
    ("replicas/deployment.yaml", "  revisionHistoryLimit: 5\n", "  replicas: 3\n  revisionHistoryLimit: 5\n",
     "must then not set spec.replicas"),
    ("pod/pod.yaml", '              cpu: "1"\n', "", "requests no cpu"),
    ("replicas/pdb.yaml", "      app.kubernetes.io/component: replicas\n",
     "      app.kubernetes.io/component: replica\n", "matches 0 workloads' pods"),
    ("replicas/pdb.yaml", "maxUnavailable: 1", "maxUnavailable: 0", "lets 0 pod(s) go"),
    ("replicas/hpa.yaml", "minReplicas: 3", "minReplicas: 1", "keeps 0"),
    ("replicas/kustomization.yaml", "  - pdb.yaml\n", "  - pdb.yaml\n  - secret.example.yaml\n",
     "is an example but a kustomization applies it"),
    ("replicas/kustomization.yaml", "  - pdb.yaml\n", "", "pdb.yaml is not part of any kustomization"),
    ("single-node/kustomization.yaml", "  - statefulset.yaml\n", "  - statefulset.yaml\n  - missing.yaml\n",
     "kubectl kustomize single-node failed"),
    ("single-node/statefulset.yaml", "      labels:\n        app.kubernetes.io/name: paytree\n",
     "      labels:\n        app.kubernetes.io/name: paytree-api\n",
     "StatefulSet paytree: selector"),
    ("single-node/secret.example.yaml", "  PAYTREE_ADMIN_KEY: ", "  PAYTREE_ADMIN_KEYS: ",
     "reads key PAYTREE_ADMIN_KEY of Secret paytree-admin"),
]


def negative_controls(root: Path, src: Path, validate: str) -> int:
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for i, (rel, old, new, expect) in enumerate(NEGATIVE_CONTROLS):
            copy = Path(tmp) / str(i) / "deploy" / "k8s"
            shutil.copytree(root, copy)
            f = copy / rel
            text = f.read_text()
            if text.count(old) != 1:
                print(f"BROKEN CONTROL {i}: {rel} does not contain {old!r} once")
                failed += 1
                continue
            f.write_text(text.replace(old, new))
            errors, _ = check(copy, src, Path(tmp) / str(i) / "out", validate)
            hit = [e for e in errors if expect in e]
            if hit:
                print(f"fails as it should: {rel}: {old.strip()!r} -> {new.strip()!r}\n    {' | '.join(hit[0].splitlines())[:300]}")
            else:
                print(f"NOT CAUGHT: {rel}: {old.strip()!r} -> {new.strip()!r}; expected {expect!r}, "
                      f"got {errors}")
                failed += 1
    print(f"{len(NEGATIVE_CONTROLS) - failed} passed, {failed} failed")
    return 1 if failed else 0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", type=Path, default=Path("deploy/k8s"))
    ap.add_argument("--src", type=Path, default=Path("src"))
    ap.add_argument("--out", type=Path, default=Path("target/k8s-rendered"))
    ap.add_argument("--validate", help="the kubernetes-validate executable")
    ap.add_argument("--negative-controls", action="store_true")
    a = ap.parse_args()
    if a.negative_controls:
        return negative_controls(a.root, a.src, a.validate)
    errors, notes = check(a.root, a.src, a.out, a.validate)
    for n in notes:
        print(n)
    for e in errors:
        print(f"ERROR {e}")
    if errors:
        return 1
    print(f"manifests valid and consistent (rendered into {a.out})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
