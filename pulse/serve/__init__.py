"""`pulse serve`: the reports for people and programs without database access.

- the portal: the reports folder's static files (reports/index.html and the downloads);
- the read-only report API under /api/v1 (app.py, query.py, openapi.py), read as the
  analyst role, through parameters only;
- /health and Prometheus /metrics for an operator's monitoring (health.py).

The report marts come from the dbt manifest (pulse/reports.py decides which models are
reports); when each was built, and which tests fail, from ops.dbt_results, which dbt
writes at the end of every run (dbt_project/macros/run_results.sql).
"""
