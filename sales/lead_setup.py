"""What the lead part of sales contributes to other modules (customer page panels, timeline kinds, exporters,
import resources, demo data). Called from SalesConfig.ready()."""


def register() -> None:
    pass
