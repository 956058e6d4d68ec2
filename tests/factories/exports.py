import factory
from django.core.files.base import ContentFile
from factory.django import DjangoModelFactory

from crm.exports.models import ExportFormat, ExportJob, ExportStatus

SMALL_CSV = "\ufeffcustomer name\r\n测试客户\r\n".encode()


class ExportJobFactory(DjangoModelFactory):
    """A customer export as a user requested it; ``done=True`` gives it a finished file to download."""

    class Meta:
        model = ExportJob

    model_key = "customers.customer"
    query = ""
    format = ExportFormat.CSV
    language = "en"
    status = ExportStatus.QUEUED

    class Params:
        done = factory.Trait(
            status=ExportStatus.DONE,
            rows_total=1,
            rows_done=1,
            file=factory.LazyFunction(lambda: ContentFile(SMALL_CSV, name="export.csv")),
        )
