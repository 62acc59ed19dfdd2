"""Build llama-cpp-python with flags the project chooses, and check the build on this CPU.

Why: a native build (`-march=native`) compiles ggml's AMX path on Intel Xeons that have AMX, and
that path crashes llama.cpp 0.3.36's OpenMP workers with SIGILL (upstream llama.cpp PR #26954).
So set-up never builds natively on x86-64. It lists the instruction-set extensions this CPU
reports (/proc/cpuinfo, or sysctl on macOS) and passes each one to ggml explicitly, with AMX
always off. A CPU gets only what it reports, so the build is safe by construction; the check
below catches anything else.

Wheels are built with pip's cache off, into a folder named by a key of every build input
(llama-cpp-python version, CMake flags, Python, platform, compiler). They are installed from
that folder only (`--no-index`), so pip's own wheel cache, keyed by version alone, can never
hand back a wheel built with other flags. A user-level copy of the folder
(~/.cache/rag-gemma4/llama-wheels/<key>) lets a second clone on the same machine skip the
4-8 minute compile.

  python scripts/llama_build.py install [--profile auto|safe]   build (or reuse) and install
  python scripts/llama_build.py check [MODEL.gguf]               64-token batch prefill in a child
                                                                 process; on a signal, rebuild with
                                                                 the safe profile and check again
  python scripts/llama_build.py flags [--profile auto|safe]     print the chosen CMake flags

Profiles: `auto` = every extension the CPU reports (AVX-512 included), never AMX; `safe` =
AVX2-class at most (no AVX-512, no AMX). Extra CMake flags (a GPU build, say) come from
RAG_LLAMA_CMAKE_ARGS or CMAKE_ARGS and are added after the project's, so they win.

Standard library only: it runs in the fresh virtual environment before anything else is
installed, and on Linux or macOS alike.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

VERSION = "0.3.36"
PACKAGE = "llama-cpp-python"
ROOT = Path(__file__).resolve().parent.parent
WHEELS = ROOT / ".whl"
STATE = Path(sys.prefix) / "llama-build.json"      # inside the venv: which build is installed and checked
USER_CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "rag-gemma4" / "llama-wheels"

# CPU flag (Linux /proc/cpuinfo name, macOS sysctl name) -> ggml option. AMX is never listed.
X86_OPTIONS = [
    ("GGML_SSE42", ["sse4_2"], ["SSE4.2"]),
    ("GGML_AVX", ["avx"], ["AVX1.0"]),
    ("GGML_AVX2", ["avx2"], ["AVX2"]),
    ("GGML_FMA", ["fma"], ["FMA"]),
    ("GGML_F16C", ["f16c"], ["F16C"]),
    ("GGML_BMI2", ["bmi2"], ["BMI2"]),
    ("GGML_AVX_VNNI", ["avx_vnni"], ["AVXVNNI"]),
    ("GGML_AVX512", ["avx512f", "avx512cd", "avx512vl", "avx512dq", "avx512bw"],
     ["AVX512F", "AVX512CD", "AVX512VL", "AVX512DQ", "AVX512BW"]),
    ("GGML_AVX512_VBMI", ["avx512vbmi"], ["AVX512VBMI"]),
    ("GGML_AVX512_VNNI", ["avx512_vnni"], ["AVX512VNNI"]),
    ("GGML_AVX512_BF16", ["avx512_bf16"], ["AVX512BF16"]),
]
SAFE_X86 = {"GGML_SSE42", "GGML_AVX", "GGML_AVX2", "GGML_FMA", "GGML_F16C", "GGML_BMI2"}
NEVER = ["GGML_AMX_TILE", "GGML_AMX_INT8", "GGML_AMX_BF16"]


class BuildError(Exception):
    pass


def say(line: str) -> None:
    print(f"llama.cpp build: {line}", flush=True)


def is_x86() -> bool:
    return platform.machine().lower() in ("x86_64", "amd64", "i686", "i386")


def cpu_flags() -> set[str]:
    """Instruction-set flags as the OS reports them (what the kernel enabled, not only
    what the chip has)."""
    if sys.platform == "darwin":
        out = ""
        for key in ("machdep.cpu.features", "machdep.cpu.leaf7_features"):
            try:
                out += " " + subprocess.run(["sysctl", "-n", key], capture_output=True, text=True).stdout
            except OSError:
                pass
        return set(out.upper().split())
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def project_flags(profile: str, flags: set[str] | None = None) -> list[str]:
    """The CMake flags for this CPU. x86-64: GGML_NATIVE off and each extension the CPU
    reports named explicitly, AMX always off. Other machines (arm64 laptops, where
    llama-cpp-python turns on Metal for Apple silicon): ggml's own defaults, native unless safe."""
    if not is_x86():
        return ["-DGGML_NATIVE=OFF"] if profile == "safe" else []
    flags = cpu_flags() if flags is None else flags
    darwin = sys.platform == "darwin"
    args = ["-DGGML_NATIVE=OFF"]
    for option, linux_names, mac_names in X86_OPTIONS:
        names = mac_names if darwin else linux_names
        on = all(n in flags for n in names) and (profile == "auto" or option in SAFE_X86)
        args.append(f"-D{option}={'ON' if on else 'OFF'}")
    args += [f"-D{o}=OFF" for o in NEVER]
    return args


def user_flags() -> list[str]:
    return (os.environ.get("RAG_LLAMA_CMAKE_ARGS", "") + " " + os.environ.get("CMAKE_ARGS", "")).split()


def compiler() -> str:
    for cc in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if cc and shutil.which(cc):
            try:
                out = subprocess.run([cc, "--version"], capture_output=True, text=True, timeout=30).stdout
                return out.splitlines()[0] if out else cc
            except (OSError, subprocess.TimeoutExpired):
                continue
    return "unknown"


def build_key(cmake_args: list[str]) -> str:
    inputs = {"package": PACKAGE, "version": VERSION, "cmake_args": cmake_args, "machine": platform.machine(),
              "system": sys.platform, "python": sys.version_info[:2], "compiler": compiler()}
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:16]


def read_state() -> dict:
    try:
        return json.loads(STATE.read_text())
    except (OSError, ValueError):
        return {}


def write_state(state: dict) -> None:
    tmp = STATE.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=1))
    os.replace(tmp, STATE)


def _wheel_in(folder: Path) -> Path | None:
    found = sorted(folder.glob("llama_cpp_python-*.whl")) if folder.is_dir() else []
    return found[0] if found else None


def _publish(wheel: Path, folder: Path) -> None:
    """Copy a wheel into a key folder all at once: a killed copy leaves no half wheel."""
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / (wheel.name + ".part")
    shutil.copyfile(wheel, tmp)
    os.replace(tmp, folder / wheel.name)


def wheel_for(cmake_args: list[str], key: str) -> Path:
    """The wheel for these flags: the project's folder, else the user cache, else a build."""
    local = WHEELS / key
    if wheel := _wheel_in(local):
        return wheel
    if cached := _wheel_in(USER_CACHE / key):
        _publish(cached, local)
        say(f"reusing the wheel built earlier with the same flags ({key})")
        return _wheel_in(local)
    say(f"compiling {PACKAGE} {VERSION} for this CPU (4-8 minutes, once); flags: {' '.join(cmake_args) or 'defaults'}")
    env = dict(os.environ, CMAKE_ARGS=" ".join(cmake_args))
    env.setdefault("CMAKE_BUILD_PARALLEL_LEVEL", str(os.cpu_count() or 2))
    with tempfile.TemporaryDirectory(prefix="llama-wheel-") as tmp:
        cmd = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-cache-dir",
               "--no-binary", PACKAGE, f"{PACKAGE}=={VERSION}", "-w", tmp]
        if subprocess.run(cmd, env=env).returncode != 0:
            raise BuildError(f"compiling {PACKAGE} failed (pip's output above); a C/C++ compiler and cmake "
                             "are needed: on Debian/Ubuntu `apt-get install build-essential cmake`, "
                             "on macOS `xcode-select --install`")
        built = _wheel_in(Path(tmp))
        if built is None:
            raise BuildError(f"pip reported success but left no {PACKAGE} wheel in {tmp}")
        _publish(built, local)
        try:
            _publish(built, USER_CACHE / key)
        except OSError:
            pass    # a read-only home still builds; the next clone compiles again
    return _wheel_in(local)


def install(profile: str) -> dict:
    state = read_state()
    cmake_args = project_flags(profile) + user_flags()
    key = build_key(cmake_args)
    if key in state.get("failed", []):
        say(f"the {profile} build failed its self-check on this machine before; using the safe profile")
        profile = "safe"
        cmake_args = project_flags(profile) + user_flags()
        key = build_key(cmake_args)
    if state.get("key") == key and _installed_version() == VERSION:
        return state
    wheel = wheel_for(cmake_args, key)
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--force-reinstall", str(wheel)]
    if subprocess.run(cmd).returncode != 0:
        raise BuildError(f"installing {wheel} failed (pip's output above)")
    state = {"key": key, "profile": profile, "cmake_args": cmake_args, "wheel": wheel.name, "checked": "",
             "failed": state.get("failed", [])}
    write_state(state)
    say(f"installed the {profile} build ({key})")
    return state


def _installed_version() -> str:
    from importlib import metadata
    try:
        return metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:
        return ""


# The child process of the check: a real batch prefill of 64 tokens through ggml's threaded
# matrix kernels (the path that crashed), then a few decoded tokens.
PREFILL = r"""
import os, sys, time
import llama_cpp
model, threads = sys.argv[1], int(sys.argv[2])
llm = llama_cpp.Llama(model_path=model, n_ctx=256, n_batch=64, n_ubatch=64, n_threads=threads,
                      n_threads_batch=threads, n_gpu_layers=0, verbose=False)
text = ("Apache License 2.0 grants a patent licence. 开源许可证允许商业使用，需要保留版权声明。" * 8)
tokens = llm.tokenize(text.encode())[:64]
assert len(tokens) == 64, len(tokens)
t = time.perf_counter()
llm.eval(tokens)
prefill = time.perf_counter() - t
for _ in range(4):
    llm.eval([llm.sample(temp=0.0)])
print(f"{64 / prefill:.0f}")
"""


def prefill_check(model: Path, threads: int) -> tuple[bool, str]:
    """(ok, detail). A signal is a failed build; any other failure is reported as such."""
    try:
        proc = subprocess.run([sys.executable, "-c", PREFILL, str(model), str(threads)],
                              capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        return False, "the 64-token prefill did not finish within 600 s"
    if proc.returncode < 0:
        try:
            name = signal.Signals(-proc.returncode).name
        except ValueError:
            name = f"signal {-proc.returncode}"
        what = " (illegal instruction: the build uses an instruction this CPU refuses)" if name == "SIGILL" else ""
        return False, f"a 64-token batch prefill died with {name}{what}"
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return False, f"a 64-token batch prefill failed with exit code {proc.returncode}: {tail}"
    return True, f"64-token batch prefill ran at {proc.stdout.strip().splitlines()[-1]} tokens/s"


def check(model: Path, threads: int) -> None:
    if not model.exists():
        raise BuildError(f"no model at {model} to check the build with: run `make setup`")
    state = read_state()
    identity = f"{state.get('key')}:{model.stat().st_size}"
    if state.get("checked") == identity:
        return
    ok, detail = prefill_check(model, threads)
    if not ok and state.get("profile") != "safe":
        say(f"the {state.get('profile', 'installed')} build failed its self-check: {detail}; "
            "rebuilding with the safe profile (no AVX-512, no AMX)")
        state["failed"] = sorted(set(state.get("failed", [])) | {state.get("key")})
        write_state(state)
        state = install("safe")
        identity = f"{state.get('key')}:{model.stat().st_size}"
        ok, detail = prefill_check(model, threads)
    if not ok:
        raise BuildError(f"the safe build failed its self-check too: {detail}. Rebuild with flags that fit this "
                         "CPU, for example `RAG_LLAMA_CMAKE_ARGS=\"-DGGML_AVX2=OFF -DGGML_FMA=OFF -DGGML_F16C=OFF "
                         "-DGGML_BMI2=OFF\" make setup`, and see docs/DESIGN.md (llama.cpp build)")
    state["checked"] = identity
    write_state(state)
    say(f"self-check passed ({state.get('profile')} build): {detail}")


def physical_cores() -> int:
    sys.path.insert(0, str(ROOT))
    from rag.config import physical_cores as cores
    return cores()


def chat_model() -> Path:
    sys.path.insert(0, str(ROOT))
    from rag.config import Settings
    return Path(Settings.from_env().model_path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("install", "flags"):
        s = sub.add_parser(name)
        s.add_argument("--profile", choices=["auto", "safe"], default="auto")
    c = sub.add_parser("check")
    c.add_argument("model", type=Path, nargs="?", help="a GGUF (default: the chat model of the settings)")
    c.add_argument("--threads", type=int, default=0)
    a = p.parse_args(argv)
    try:
        if a.cmd == "flags":
            args = project_flags(a.profile) + user_flags()
            print(" ".join(args) or "(ggml defaults)")
            print(f"key {build_key(args)}")
        elif a.cmd == "install":
            install(a.profile)
        else:
            check(a.model or chat_model(), a.threads or physical_cores())
    except BuildError as e:
        print(f"llama.cpp build: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
