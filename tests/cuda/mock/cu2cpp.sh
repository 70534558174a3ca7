#!/bin/sh
# tests/cuda/mock/cu2cpp.sh IN.cu OUT.cpp: a .cu as C++ for the CPU
# emulation (cuda_runtime.h beside this script): every kernel launch
#     name<<<config>>>(args)   becomes   mock_launch(name, mock_cfg(config), args)
# Nothing else changes.
sed -E 's/([A-Za-z_][A-Za-z0-9_:]*)<<<(.*)>>>\(/mock_launch(\1, mock_cfg(\2), /' "$1" >"$2"
