"""sales: leads, pipelines, opportunities, quotes, orders and payments (issue 5).
The app is installed now so that the schema and layout are fixed from the start."""
