#!/bin/bash
# twelfth session, device call 11: clocks and power of dense prefill L16K, ksa and cuDNN, f16 and bf16
cd "$(dirname "$0")/../.."
PY=$(ls /opt/torch/.venv/bin/python3 2>/dev/null || which python3)
timeout 120 $PY .carry/devbin/s12call11.py; pkill -f "nvidia-smi --query" || true
