# call 2 (2026-12-02; carry .carry/cuda .carry/dnnl), with tile_pf.patch applied:
export KSA_CPU_TILE_PF=3; KSA_AMX_AB="KSA_CPU_TILE_PF=0;KSA_CPU_TILE_PF=1;KSA_CPU_TILE_PF=2;KSA_CPU_TILE_PF=3" OUT=$OUT bash scripts/device/device-amx.sh > /tmp/amx.log 2>&1
