"""Data files shipped in the package: countries.parquet, the country boundary layer
(Natural Earth admin 0, public domain; see NOTICE.md and scripts/build_country_boundaries.py)."""
