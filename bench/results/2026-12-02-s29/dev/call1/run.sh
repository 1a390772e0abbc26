# call 1 (2026-12-02, device tool, nvidia-h200 machine's Xeon; carry .carry/cuda .carry/dnnl), with fused.patch applied:
KSA_AMX_AB="KSA_CPU_FUSED=1;KSA_CPU_FUSED=0;block_k=128;sub_rows=16;sub_rows=64" OUT=$OUT bash scripts/device/device-amx.sh > /tmp/amx.log 2>&1
