#!/bin/bash
# One device run: build llama-cpp-python 0.3.36 with CUDA from the (pruned) sdist, then load
# synthetic GGUFs through rag.generate.LocalLLM with all layers on the GPU and with none,
# and time them. Everything it prints lands in $OUT/log.txt; results in $OUT/results.jsonl.
# Run from the repo root:  bash .gpu/device.sh
set -x
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
exec > >(tee "$OUT/log.txt") 2>&1
REPO=$(pwd)
T0=$(date +%s)
BUILD_LIMIT=${BUILD_LIMIT:-380}      # seconds the CUDA build may take before the fallback
since() { echo "[t+$(( $(date +%s) - T0 ))s] $*"; }

since start
nvidia-smi
nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv
nproc; lscpu | grep -E "Model name|^CPU\(s\)|Thread|Core|Flags" | cut -c1-200
which python3; python3 --version; which cmake nvcc ninja; cmake --version | head -1; nvcc --version | tail -2
python3 -m pip show scikit-build-core numpy jinja2 typing-extensions diskcache pyyaml 2>&1 | grep -E "^(Name|Version|WARNING)"

# diskcache is the one runtime dependency of llama-cpp-python missing from the image
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .gpu/whl/*.whl

# cuBLAS: the image's /usr/local/cuda may hold no cuBLAS; then use the pip one (nvidia/cu13)
SP=$(python3 -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
find /usr/local/cuda/ /usr/local/cuda*/ "$SP/nvidia" \( -name cublas_v2.h -o -name 'libcublas.so*' -o -name 'libcublasLt.so*' \) 2>/dev/null | sort -u
ldconfig -p | grep -E "libcuda\.so|libcublas" ; ls /usr/local/nvidia/lib64 2>/dev/null | head -30
EXTRA=""
if [ ! -e /usr/local/cuda/include/cublas_v2.h ]; then
  H=$(find "$SP/nvidia" -name cublas_v2.h 2>/dev/null | head -1)
  L=$(find "$SP/nvidia" -name 'libcublas.so.*' 2>/dev/null | head -1)
  LT=$(find "$SP/nvidia" -name 'libcublasLt.so.*' 2>/dev/null | head -1)
  if [ -n "$H" ] && [ -n "$L" ] && [ -n "$LT" ]; then
    # only cuBLAS's own headers: the pip include folder also holds other CUDA packages'
    # headers, maybe of another 13.x than nvcc's, which must not shadow the toolkit's
    INC=/tmp/cublas_inc; mkdir -p $INC; LIBDIR=$(dirname "$L")
    for h in cublas.h cublas_v2.h cublas_api.h cublasLt.h cublasXt.h; do
      [ -e "$(dirname "$H")/$h" ] && ln -sf "$(dirname "$H")/$h" $INC/$h
    done
    ls -la $INC
    EXTRA="-DCUDA_cublas_LIBRARY=$L -DCUDA_cublasLt_LIBRARY=$LT -DCMAKE_CUDA_FLAGS=-I$INC -DCMAKE_CXX_FLAGS=-I$INC"
    export LD_LIBRARY_PATH=$LIBDIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  fi
fi
# the driver library (ggml-cuda links it for VMM): name it, FindCUDAToolkit may not look where it is
D=$( (ldconfig -p | grep -o "/.*libcuda\.so\.1$"; find /usr/local/nvidia /usr/lib /usr/lib64 -name 'libcuda.so.1' 2>/dev/null) | head -1)
[ -n "$D" ] && EXTRA="$EXTRA -DCUDA_cuda_driver_LIBRARY=$D"
echo "EXTRA=$EXTRA"; echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"

# synthetic models, written while the build runs (gguf-py from the sdist's vendor/llama.cpp)
mkdir -p /tmp/b /tmp/models
tar xzf .gpu/llama_cpp_python-0.3.36-pruned.tar.gz -C /tmp/b
SRC=/tmp/b/llama_cpp_python-0.3.36
(
  export PYTHONPATH=$SRC/vendor/llama.cpp/gguf-py
  python3 .gpu/make_gguf.py /tmp/models/synthetic-tiny.gguf --vocab $SRC/vendor/llama.cpp/models/ggml-vocab-qwen2.gguf --preset tiny
  python3 .gpu/make_gguf.py /tmp/models/synthetic-qwen1.5b-shape.gguf --vocab $SRC/vendor/llama.cpp/models/ggml-vocab-qwen2.gguf --preset qwen1.5b
) > "$OUT/models.txt" 2>&1 &
GEN=$!

since build start
export CMAKE_ARGS="-DGGML_CUDA=on -DCMAKE_CUDA_ARCHITECTURES=90 $EXTRA"
export CMAKE_BUILD_PARALLEL_LEVEL=16
B0=$(date +%s)
timeout $BUILD_LIMIT python3 -m pip install -v --no-deps --no-build-isolation --no-compile --target /tmp/site "$SRC" > "$OUT/build.txt" 2>&1
RC=$?
BUILD_S=$(( $(date +%s) - B0 ))
since "build rc=$RC in ${BUILD_S}s"
grep -E "CUDA Toolkit|CUDA compiler identification|CMAKE_CUDA_ARCHITECTURES|Including CUDA|cublas|Error|error:" "$OUT/build.txt" | head -30
tail -5 "$OUT/build.txt"
BUILT=device
if [ $RC -ne 0 ] || [ ! -d /tmp/site/llama_cpp ]; then
  BUILT=none
  if [ -f .gpu/prebuilt.tar.xz ]; then
    since "device build failed/timed out: using the prebuilt CUDA package built off-device"
    rm -rf /tmp/site/llama_cpp && tar xJf .gpu/prebuilt.tar.xz -C /tmp/site && BUILT=prebuilt
  fi
fi
echo "BUILT=$BUILT BUILD_S=$BUILD_S RC=$RC" | tee "$OUT/build_summary.txt"
ls -la /tmp/site/llama_cpp/lib 2>/dev/null | tee -a "$OUT/build_summary.txt"
wait $GEN; cat "$OUT/models.txt"; ls -la /tmp/models
[ "$BUILT" = none ] && { since "no llama_cpp to test"; exit 1; }

export PYTHONPATH=/tmp/site:$REPO PYTHONUNBUFFERED=1
since bench start
python3 - <<'EOF'
import llama_cpp, rag.generate, sys
print("llama_cpp", llama_cpp.__version__, "from", llama_cpp.__file__)
print("llama_supports_gpu_offload:", llama_cpp.llama_supports_gpu_offload())
print("system_info:", llama_cpp.llama_print_system_info().decode())
assert llama_cpp.llama_supports_gpu_offload(), "built without GPU offload"
heavy = [m for m in ("torch", "sentence_transformers", "gradio", "transformers") if m in sys.modules]
print("heavy modules pulled by rag.generate:", heavy)
EOF
python3 .gpu/bench.py all /tmp/models/synthetic-tiny.gguf /tmp/models/synthetic-qwen1.5b-shape.gguf 2>"$OUT/bench_stderr.txt" | tee "$OUT/results.jsonl"
BRC=${PIPESTATUS[0]}
since "bench rc=$BRC"
grep -E "offloaded|using device|model buffer size|CUDA0 KV|graph splits" "$OUT/bench_stderr.txt" | sort | uniq -c | head -40
nvidia-smi --query-gpu=name,memory.used --format=csv
since done
sleep 2
