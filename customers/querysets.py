from django.db import models


class CustomerQuerySet(models.QuerySet):
    def alive(self):
        return self.filter(deleted_at__isnull=True)

    def in_recycle_bin(self):
        return self.filter(deleted_at__isnull=False)

    def in_pool(self):
        return self.filter(owner__isnull=True)
