"""The supervisor console (巡检主管台): today at a glance, evidence review, the rectification
workflow, logs with CSV export, reception, and the scheduler jobs that settle deadlines."""
