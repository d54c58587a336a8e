"""The mock harness itself: repeated program runs must not exhaust the process.

Each run once left about six event loops open (18 file descriptors); a full suite passed
select()'s 1024-descriptor limit. tests/pulumi_mocks.ThreadLoops closes them after every run.
"""

from __future__ import annotations

import pytest

from tests.pulumi_mocks import PROC_FDS, open_file_descriptors


@pytest.mark.skipif(not PROC_FDS.is_dir(), reason="counts descriptors through Linux's /proc")
def test_repeated_runs_leave_no_file_descriptor_open(kit):
    def run_once() -> None:
        run = kit.run(
            "dev", kit.fixtures / "one.yaml", secrets=kit.secrets("billingHandoffIntercomUrl")
        )
        assert run.error is None, run.error
        kit.between_runs()  # what the fixture does between two tests

    run_once()  # the first run imports the program's modules and opens what stays open
    before = open_file_descriptors()
    for _ in range(4):
        run_once()
    assert open_file_descriptors() <= before
