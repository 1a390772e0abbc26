#!/bin/bash
# s13 call 6: L2 prefetch hint (.L2::256B / ::128B by row size) on the gathered 16-byte copies:
# new = HEAD 80e4d8c, hint = decode copies, hintp = decode + prefill's gathered copies
cd "$(dirname "$0")/../../.."
VARIANTS="new=lib_new hint=lib_hint hintp=lib_hintp" bash .carry/devbin/abv.sh 2 dec rdec16 rdec1 hd rpre adec
