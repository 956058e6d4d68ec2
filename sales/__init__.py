"""sales: leads, pipelines, opportunities, quotes, orders and payments (issue 5)."""
