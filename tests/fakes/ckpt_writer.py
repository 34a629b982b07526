"""Write one checkpoint in a real format, whole, or half and then hang (for a kill -9: a torn file).

    ckpt_writer.py KIND PATH [--hang]

KIND: zip (a torch-style zip: data.pkl first, stored, then the tensors), lightning (a zip whose
data.pkl maps global_step, as Lightning's last.ckpt), accelerate (a checkpoints/checkpoint_N
directory: weights, optimizer, then random_states_0.pkl with its step), safetensors and h5 (these
two need the safetensors/numpy and h5py packages: exit 3 when they are missing). With --hang the
writer stops half-way through the file (for accelerate: through optimizer.bin, before
random_states_0.pkl), prints "half" and sleeps until killed.
"""

from __future__ import annotations

import os
import pickle
import sys
import time
import zipfile

kind, path = sys.argv[1], sys.argv[2]
hang = "--hang" in sys.argv[3:]
STEP = int(os.environ.get("CKPT_STEP", "280"))
BLOB = os.urandom(1 << 20)


def stall() -> None:
    print("half", flush=True)
    while True:
        time.sleep(1)


def torch_zip(p: str, state: dict[str, object], stop: bool = False) -> None:
    """As torch.save lays a file out: <name>/data.pkl (pickle protocol 2), <name>/data/0, ..., stored."""
    name = os.path.basename(p).split(".")[0] or "archive"
    with open(p, "wb") as raw, zipfile.ZipFile(raw, "w", zipfile.ZIP_STORED) as z:
        z.writestr(f"{name}/data.pkl", pickle.dumps(state, protocol=2))
        with z.open(f"{name}/data/0", "w") as m:
            m.write(BLOB[: len(BLOB) // 2])
            if stop:
                m.flush()
                raw.flush()
                stall()
            m.write(BLOB[len(BLOB) // 2:])
        z.writestr(f"{name}/version", "3\n")


def slow_bytes(p: str, body: bytes, stop: bool) -> None:
    with open(p, "wb") as f:
        f.write(body[: len(body) // 2])
        f.flush()
        if stop:
            stall()
        f.write(body[len(body) // 2:])


if kind == "zip":
    torch_zip(path, {"weights": "see data/0"}, hang)
elif kind == "lightning":
    torch_zip(path, {"epoch": 6, "global_step": STEP, "pytorch-lightning_version": "2.6.0",
                     "state_dict": {"layer.weight": None}}, hang)
elif kind == "accelerate":
    os.makedirs(path, exist_ok=True)
    torch_zip(os.path.join(path, "optimizer.bin"), {"state": {}}, hang)
    torch_zip(os.path.join(path, "random_states_0.pkl"), {"step": STEP, "random_state": (3, (1, 2), None)})
elif kind in ("safetensors", "h5"):
    try:
        import numpy as np
        if kind == "safetensors":
            from safetensors.numpy import save  # type: ignore[import-not-found,unused-ignore]
        else:
            import h5py  # type: ignore[import-not-found,import-untyped,unused-ignore]
    except ImportError as e:
        print(f"missing: {e.name}", flush=True)
        sys.exit(3)
    w = np.frombuffer(BLOB, dtype=np.float32).reshape(512, 512)
    if kind == "safetensors":
        slow_bytes(path, save({"layer.weight": w, "layer.bias": w[0].copy()}), hang)
    else:
        f = h5py.File(path, "w")
        d = f.create_dataset("layer/weight", shape=(512, 512), dtype="f4")
        d[:256] = w[:256]
        if hang:
            stall()
        d[256:] = w[256:]
        f.close()
else:
    sys.exit(f"unknown kind {kind}")
print("done", flush=True)
