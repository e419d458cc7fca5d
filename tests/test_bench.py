"""`rag bench` reports the machine its numbers come from."""
from __future__ import annotations

from rag.bench import machine

CPUINFO = """processor\t: 0
model name\t: Example CPU 9000
flags\t\t: fpu sse4_2 avx2 fma avx512f avx512_vnni

processor\t: 1
model name\t: Example CPU 9000
flags\t\t: fpu sse4_2 avx2 fma avx512f avx512_vnni
"""


def test_machine_names_the_cpu_and_the_instructions_int8_kernels_use(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(CPUINFO)
    host = machine(cpuinfo)
    assert host["cpu"] == "Example CPU 9000"
    assert host["int8_instructions"] == ["avx2", "avx512f", "avx512_vnni"]
    assert host["cores"] >= 1


def test_machine_without_cpuinfo_still_names_something(tmp_path):
    host = machine(tmp_path / "missing")
    assert host["int8_instructions"] == [] and isinstance(host["cpu"], str) and host["cores"] >= 1
