"""Check a dataset: ``python scripts/check_data.py [data=...] [data.root=...]`` (see configs/check_data.yaml)."""

from yololab.cli import check_data

if __name__ == "__main__":
    check_data()
