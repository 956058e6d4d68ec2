"""reports: funnels, dashboards and analytics (issue 6).
The app is installed now so that the schema and layout are fixed from the start."""
