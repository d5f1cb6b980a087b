"""The TLB-shootdown count the benchmarks print beside W1, W2 and the floor probe."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.shootdowns import ShootdownCount, shootdowns_in, tlb_shootdowns

INTERRUPTS = """           CPU0       CPU1
  0:         31          0   IO-APIC   2-edge      timer
NMI:          0          0   Non-maskable interrupts
CAL:   37687604   39509650   Function call interrupts
TLB:   23892898   25403219   TLB shootdowns
"""


def test_the_tlb_row_is_summed_over_the_cpus_and_its_label_left_out() -> None:
    assert shootdowns_in(INTERRUPTS) == 23892898 + 25403219


def test_a_text_without_a_tlb_row_reads_as_unknown() -> None:
    assert shootdowns_in(INTERRUPTS.replace("TLB:", "XYZ:")) is None


@pytest.mark.skipif(not Path("/proc/interrupts").exists(), reason="Linux only")
def test_a_count_over_no_work_is_unknown_and_the_machine_counter_only_grows() -> None:
    count = ShootdownCount()
    assert count.per(10) is None  # not stopped yet
    count.stop()
    assert count.per(0) is None
    first = tlb_shootdowns()
    second = tlb_shootdowns()
    if first is None:
        pytest.skip("this kernel has no TLB row in /proc/interrupts")
    assert second is not None and second >= first
    per = count.per(1)
    assert per is not None and per >= 0
