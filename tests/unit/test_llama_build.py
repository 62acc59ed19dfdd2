"""The llama.cpp build flags the set-up chooses: explicit per-CPU extensions, never AMX, never
-march=native on x86-64; a build key that changes with every input; a self-check that names
the signal a child process died of."""
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("llama_build", ROOT / "scripts" / "llama_build.py")
lb = importlib.util.module_from_spec(spec)
spec.loader.exec_module(lb)

# /proc/cpuinfo flags of an Intel Sapphire Rapids VM (AMX), an AMD Zen 4 (no AMX) and an old AVX2 laptop
SAPPHIRE = set("sse4_2 avx avx2 fma f16c bmi2 avx_vnni avx512f avx512cd avx512vl avx512dq avx512bw avx512vbmi "
               "avx512_vnni avx512_bf16 amx_tile amx_int8 amx_bf16".split())
ZEN4 = SAPPHIRE - {"amx_tile", "amx_int8", "amx_bf16", "avx_vnni"}
HASWELL = set("sse4_2 avx avx2 fma f16c bmi2".split())


def options(args):
    return dict(a[2:].split("=") for a in args)


@pytest.fixture
def x86_linux(monkeypatch):
    monkeypatch.setattr(lb, "is_x86", lambda: True)
    monkeypatch.setattr(lb.sys, "platform", "linux")


@pytest.mark.parametrize("flags", [SAPPHIRE, ZEN4, HASWELL, set()])
@pytest.mark.parametrize("profile", ["auto", "safe"])
def test_never_native_never_amx(x86_linux, flags, profile):
    o = options(lb.project_flags(profile, flags))
    assert o["GGML_NATIVE"] == "OFF"
    assert o["GGML_AMX_TILE"] == o["GGML_AMX_INT8"] == o["GGML_AMX_BF16"] == "OFF"
    # nothing the CPU does not report is ever switched on
    for option, names, _ in lb.X86_OPTIONS:
        if o[option] == "ON":
            assert all(n in flags for n in names), option


def test_auto_uses_what_the_cpu_reports(x86_linux):
    o = options(lb.project_flags("auto", SAPPHIRE))
    assert o["GGML_AVX512"] == o["GGML_AVX512_VNNI"] == o["GGML_AVX512_BF16"] == o["GGML_AVX_VNNI"] == "ON"
    h = options(lb.project_flags("auto", HASWELL))
    assert h["GGML_AVX2"] == h["GGML_FMA"] == "ON" and h["GGML_AVX512"] == "OFF"


def test_safe_profile_has_no_avx512(x86_linux):
    o = options(lb.project_flags("safe", SAPPHIRE))
    assert o["GGML_AVX2"] == "ON"
    assert all(v == "OFF" for k, v in o.items() if "AVX512" in k or "VNNI" in k)


def test_macos_names(monkeypatch):
    monkeypatch.setattr(lb, "is_x86", lambda: True)
    monkeypatch.setattr(lb.sys, "platform", "darwin")
    o = options(lb.project_flags("auto", {"SSE4.2", "AVX1.0", "FMA", "F16C", "AVX2", "BMI2"}))
    assert o["GGML_AVX2"] == o["GGML_FMA"] == o["GGML_AVX"] == "ON" and o["GGML_AVX512"] == "OFF"


def test_arm_keeps_ggml_defaults(monkeypatch):
    monkeypatch.setattr(lb, "is_x86", lambda: False)
    assert lb.project_flags("auto") == []
    assert lb.project_flags("safe") == ["-DGGML_NATIVE=OFF"]


def test_user_flags_come_last_and_change_the_key(x86_linux, monkeypatch):
    monkeypatch.setenv("RAG_LLAMA_CMAKE_ARGS", "-DGGML_CUDA=on")
    monkeypatch.delenv("CMAKE_ARGS", raising=False)
    args = lb.project_flags("auto", ZEN4) + lb.user_flags()
    assert args[-1] == "-DGGML_CUDA=on"
    assert lb.build_key(args) != lb.build_key(args[:-1])
    assert lb.build_key(lb.project_flags("auto", ZEN4)) != lb.build_key(lb.project_flags("safe", ZEN4))


def test_self_check_names_the_signal(monkeypatch, tmp_path):
    """A child that dies by SIGILL is reported as such, in one line, not as a crash of the caller."""
    monkeypatch.setattr(lb, "PREFILL", "import os, signal; os.kill(os.getpid(), signal.SIGILL)")
    ok, detail = lb.prefill_check(tmp_path / "model.gguf", 1)
    assert not ok
    assert "SIGILL" in detail and "illegal instruction" in detail and "\n" not in detail


def test_self_check_reports_other_failures(monkeypatch, tmp_path):
    monkeypatch.setattr(lb, "PREFILL", "raise SystemExit('no model here')")
    ok, detail = lb.prefill_check(tmp_path / "model.gguf", 1)
    assert not ok and "exit code 1" in detail and "no model here" in detail


def test_a_failed_check_rebuilds_safe_and_remembers(monkeypatch, tmp_path):
    """auto dies by a signal -> set-up says so, installs the safe build, checks again; the next
    install skips the auto build that failed."""
    monkeypatch.setattr(lb, "STATE", tmp_path / "state.json")
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF")
    installed = []

    def fake_install(profile):
        state = lb.read_state()
        if profile == "auto" and lb.build_key([profile]) in state.get("failed", []):
            profile = "safe"
        installed.append(profile)
        state.update(key=lb.build_key([profile]), profile=profile, checked="")
        lb.write_state(state)
        return state

    results = iter([(False, "a 64-token batch prefill died with SIGILL"), (True, "ran at 100 tokens/s")])
    monkeypatch.setattr(lb, "install", fake_install)
    monkeypatch.setattr(lb, "prefill_check", lambda m, t: next(results))
    fake_install("auto")
    lb.check(model, 2)
    state = lb.read_state()
    assert installed == ["auto", "safe"] and state["profile"] == "safe" and state["checked"]
    assert lb.build_key(["auto"]) in state["failed"]
    lb.check(model, 2)                       # checked: no second prefill (the iterator is spent)


def test_both_builds_failing_stops_with_what_to_run(monkeypatch, tmp_path):
    monkeypatch.setattr(lb, "STATE", tmp_path / "state.json")
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF")
    lb.write_state({"key": "k", "profile": "safe"})
    monkeypatch.setattr(lb, "prefill_check", lambda m, t: (False, "died with SIGILL"))
    with pytest.raises(lb.BuildError, match="RAG_LLAMA_CMAKE_ARGS"):
        lb.check(model, 2)
    assert lb.main(["check", str(model), "--threads", "1"]) == 1
