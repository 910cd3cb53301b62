"""Result submissions and published tables (no issue has asked for it yet)."""
