"""Reporting: daily rollups of the curated table, the reports and metrics read from both, exports,
the weekly digest and the chart geometry the dashboard and the digest share."""
