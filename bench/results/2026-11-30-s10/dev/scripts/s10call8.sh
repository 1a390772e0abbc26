#!/bin/bash
# tenth session, device call 8: head dims 64 / 256 at B16 Lk32K (the final run's grid showed dense +7..10%, anchor D64 +29%
# against the ninth session's run): HEAD of the session (lib_head) vs the committed tree (lib_final), 2 rounds
cd "$(dirname "$0")/../.."
VARIANTS="head=lib_head final=lib_final" bash .carry/devbin/abv.sh 2 hd
