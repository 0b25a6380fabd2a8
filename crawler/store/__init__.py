"""The archive database: its schema, what the spider asks it, the writes, the search index."""
