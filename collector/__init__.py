"""The event collector: Segment's HTTP API and the seed's /v1/event, durable before it answers.

app.py serves the requests, events.py checks each event, spool.py is the write-ahead log the
drain (pipelines/events) reads. `pulse collect` runs it (docs/events.md).
"""
