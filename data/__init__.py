"""Warehouse schema, demo-data generator, importers and the data-access layer."""
