"""marketing: segments and campaigns (a later issue).
The app is installed now so that the schema and layout are fixed from the start."""
