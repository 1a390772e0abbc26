"""peer_cfg.py: bench/peer_torch.py with ksa's configuration override set first (KSA_DEV_CONFIG), so one
process pair times a ksa configuration against the PyTorch SDPA (cuDNN) peer. Development call only."""
import os
import runpy
import sys

sys.path.insert(0, os.path.join(os.environ.get("KSA_ROOT", "."), "python"))
import ksa  # noqa: E402

cfg = os.environ.get("KSA_DEV_CONFIG", "")
if cfg:
    ksa.set_config_override(cfg)
sys.argv[0] = os.path.join(os.environ.get("KSA_ROOT", "."), "bench", "peer_torch.py")
runpy.run_path(sys.argv[0], run_name="__main__")
