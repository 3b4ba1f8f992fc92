"""Batch evaluation, a front end over the facade: read question files (questions), answer them
into a resumable answers log (run, runs), score them (metrics), report (report, plots) and compare
two runs (compare); `command` is its command line."""
