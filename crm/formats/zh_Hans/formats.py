"""Chinese number formats as Chinese business documents write amounts: ¥1,234,567.00. Django's own zh_Hans
formats group digits by four with no separator (1234567.00), which nobody reads on a quote or a report."""

THOUSAND_SEPARATOR = ","
NUMBER_GROUPING = 3
