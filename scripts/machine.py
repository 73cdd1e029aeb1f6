"""The line every benchmark writes beside its figures: which machine measured them.

Figures from two processors are not comparable (this project's benchmarks have run on an Intel
Xeon with AMX and on an AMD EPYC, both "x86_64, 2 CPU cores"), so the line names the processor
model as the operating system reports it, and whether it computes bfloat16 natively (what
``--precision auto`` picks bf16 on)."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def processor() -> str:
    """The processor's model name (Linux: /proc/cpuinfo's "model name"), else platform's guess."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and value.strip():
                return value.strip()
    except OSError:
        pass
    return platform.processor() or "processor unknown"


def machine_line() -> str:
    """E.g. "x86_64 AMD EPYC (native bf16), 2 CPU cores, Python 3.11.7"."""
    from autocode.embeddings import native_bf16

    bf16 = " (native bf16)" if native_bf16() else ""
    return f"{platform.machine()} {processor()}{bf16}, {os.cpu_count()} CPU cores, Python {platform.python_version()}"
