"""dientine."""
