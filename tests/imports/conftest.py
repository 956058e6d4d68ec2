"""Helpers for import tests: real spreadsheet files written by openpyxl (and committed ones written by
LibreOffice, in tests/imports/files/), uploaded as a browser would."""

import io
from pathlib import Path

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import translation

from crm.imports import services
from crm.imports.models import ImportJob

FILES = Path(__file__).parent / "files"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def xlsx_bytes(rows, *, sheet="客户", more_sheets=None, merge=None, number_formats=None) -> bytes:
    """An .xlsx made by openpyxl: ``rows`` on the first sheet (lists of cells), optional extra sheets
    ({name: rows}), merged ranges ("A2:A4") and number formats ({"B2": "0.00E+00"})."""
    workbook = openpyxl.Workbook()
    first = workbook.active
    first.title = sheet
    for row in rows:
        first.append(row)
    for cell_range in merge or []:
        first.merge_cells(cell_range)
    for cell, fmt in (number_formats or {}).items():
        first[cell].number_format = fmt
    for name, extra in (more_sheets or {}).items():
        other = workbook.create_sheet(name)
        for row in extra:
            other.append(row)
    output = io.BytesIO()
    workbook.save(output)
    return output.getvalue()


def upload(content: bytes, name: str = "客户名单.xlsx") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type=XLSX_TYPE)


@pytest.fixture(params=["calamine", "row by row"])
def either_reader(request, settings):
    """.xlsx files read whole by python-calamine, and row by row by crm.imports.sheet_xml, as the workbooks too
    large to hold whole are read (any part over CRM_IMPORT_STREAM_FROM_BYTES): both must read a file alike."""
    if request.param == "row by row":
        settings.CRM_IMPORT_STREAM_FROM_BYTES = 0


@pytest.fixture
def english():
    """Jobs take the uploader's language; messages are asserted in English, whatever the catalogue says and
    whatever language an earlier test left active."""
    with translation.override("en"):
        yield


def run_to_preview(actor, content: bytes, name="客户名单.xlsx", *, resource="customers.customer",
                   **choices) -> ImportJob:
    """Upload, read and check a file (of ``resource`` records) as the worker would, stopping at the preview."""
    job = services.import_job_create(actor=actor, resource_key=resource, upload=upload(content, name))
    services.import_job_parse(job.pk)
    job.refresh_from_db()
    if job.status != "parsed":
        return job
    options = {"sheet": "", "header_row": None, "mapping": job.mapping, "duplicate_mode": "skip",
               "owner_mode": "me", "owner": None, "skip_invalid": False} | choices
    services.import_job_configure(actor=actor, job=job, **options)
    job.refresh_from_db()
    if job.status == "uploaded":  # another sheet or header row: read again
        services.import_job_parse(job.pk)
        job.refresh_from_db()
        options["mapping"] = job.mapping
        options["sheet"], options["header_row"] = "", None
        services.import_job_configure(actor=actor, job=job, **options)
    services.import_job_validate(job.pk)
    job.refresh_from_db()
    return job


def commit(actor, job) -> ImportJob:
    services.import_job_request_commit(actor=actor, job=job)
    services.import_job_commit(job.pk)
    job.refresh_from_db()
    return job


def undo(actor, job) -> ImportJob:
    services.import_job_request_undo(actor=actor, job=job)
    services.import_job_undo(job.pk)
    job.refresh_from_db()
    return job


@pytest.fixture
def importer(admin_user):
    return admin_user
