"""A workbook's rows are checked by two processes (crm/imports/two_cores.py): the rows stored are exactly those one
process stores, and a second process that fails ends the job with the usual message, with nothing stored."""

import os

import pytest

from crm.imports import services, two_cores
from crm.imports.models import ImportRow
from customers.resources import CustomerResource

from .conftest import run_to_preview, xlsx_bytes

HEADER = ["客户名称", "公司名称", "手机", "邮箱", "客户级别"]


def sheet_rows():
    rows = [["2026年客户名单"], HEADER]
    for i in range(1, 301):
        if i % 37 == 0:
            rows.append(["", "", "", "", ""])  # blank rows are left out by both processes
        elif i % 11 == 0:
            rows.append([f"客户{i}", "", "12345", "not-an-email", "A"])  # invalid: named by row and column
        else:
            rows.append([f"客户{i}", f"公司{i % 40}", f"139{i:08d}", f"c{i}@example.com", "重要客户"])
    rows.append(["客户1", "公司1", "13900000001", "c1@example.com", "A"])  # repeats row 3
    return rows


def stored(job):
    return sorted(ImportRow.objects.filter(job=job).values_list(
        "row_number", "action", "data", "errors", "key_mobile", "key_email", "key_name", "duplicate_of_row"))


@pytest.fixture
def forks(monkeypatch):
    made = []
    real_fork = os.fork

    def fork():
        pid = real_fork()
        if pid:
            made.append(pid)
        return pid

    monkeypatch.setattr(os, "fork", fork)
    return made


def test_two_processes_store_what_one_process_stores(importer, forks, monkeypatch):
    content = xlsx_bytes(sheet_rows())
    both = run_to_preview(importer, content)
    assert forks, "the workbook was checked by one process only"
    monkeypatch.setattr(two_cores, "lines_two_cores", two_cores.lines_one_core)
    one = run_to_preview(importer, content)
    assert both.counts == one.counts
    assert both.counts["invalid"] == 27 and both.counts["file_duplicate"] == 1
    assert [row[1:] for row in stored(both)] == [row[1:] for row in stored(one)]
    # every row the sheet has, once: numbered as Excel numbers them
    assert [row[0] for row in stored(both)] == [row[0] for row in stored(one)]
    assert len(stored(both)) == 300 - 8 + 1


def test_a_failing_second_process_fails_the_job_and_stores_nothing(importer, monkeypatch, english):
    parent = os.getpid()
    clean_row = CustomerResource.clean_row

    def failing_in_the_child(self, values, job, context):
        if os.getpid() != parent:
            raise ValueError("a bug in the second process")
        return clean_row(self, values, job, context)

    monkeypatch.setattr(CustomerResource, "clean_row", failing_in_the_child)
    job = run_to_preview(importer, xlsx_bytes(sheet_rows()))
    assert job.status == "failed"
    assert "Something unexpected went wrong" in job.error and "nothing was written" in job.error
    assert not ImportRow.objects.filter(job=job).exists()
    assert not services.phase(job)
