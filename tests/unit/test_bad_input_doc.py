"""docs/bad-input.md is the bad-input table the integration test runs (tests/utils/bad_input.py)."""

import os

from tests.utils import bad_input

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_published_table_is_the_tested_table():
    with open(os.path.join(ROOT, "docs", "bad-input.md")) as fh:
        published = fh.read()
    assert published == bad_input.markdown(), "regenerate: python tests/utils/bad_input.py > docs/bad-input.md"


def test_table_has_at_least_40_rows_with_unique_ids():
    ids = [c.id for c in bad_input.CASES]
    assert len(ids) >= 40 and len(set(ids)) == len(ids)
    assert all(c.kind in ("fail", "warn") and c.sees for c in bad_input.CASES)
