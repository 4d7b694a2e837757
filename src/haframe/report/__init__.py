"""The report: paper-style tables (``tables``), the scorecard against reference results
(``scorecard``), and the functions the report rules call (``build``)."""
