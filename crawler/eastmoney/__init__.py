"""Everything finews knows of Eastmoney: URLs, the column catalog, JSON field
names, page selectors and body markup. When the upstream changes, the edit is
in this package and nowhere else (see ``urls.py`` for the catalog)."""
