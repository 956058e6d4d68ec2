"""interactions: the interaction log, follow-ups and reminders (issue 4). The app is installed now so that the schema and layout are fixed from the start."""
