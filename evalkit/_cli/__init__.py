"""Command-line front end (click). Holds no evaluation logic of its own."""
