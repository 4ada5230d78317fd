"""Suggested actions: "something here needs you" cards, above the domain and its jobs.

A kind of suggestion is a provider (reads stored counts and the latest job, never counts
big tables) plus its own texts, in one module each (`ungrouped_captures`,
`sessions_out_of_date`, `empty_capture_set`); `kinds` holds what every kind shares,
`dismissals` who hid what, `rollup` the project page's list of deployments to regroup.
Dependencies run one way: views → suggestions → jobs → monitoring.
"""
