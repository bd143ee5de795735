"""Reports of a built version: the terminal summary and report.html with its charts."""
