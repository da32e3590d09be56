"""Queries and KPIs, written once as ibis expressions over data.access.DataAccess."""
