"""Web views of issues, split by page family: lists, report, detail and actions, photos."""
