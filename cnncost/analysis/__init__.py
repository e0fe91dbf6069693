"""Analysis passes over an expanded graph: costs, published-number checks."""
