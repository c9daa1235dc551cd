"""Make this checkout importable and runnable as ``kafkaops.migration``.

The repository root is the collection root. Python imports (``ansible_collections.kafkaops.migration``),
``ansible-playbook`` and ``ansible-doc`` need it inside a ``.../ansible_collections/kafkaops/migration``
tree, so a link to the checkout is kept in a folder outside it (never inside: tools that walk the tree
would loop).
"""

import hashlib
import os

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def collections_root():
    """The folder to put on ``ANSIBLE_COLLECTIONS_PATH`` / ``sys.path``; created on first use."""
    tag = hashlib.sha1(REPO.encode()).hexdigest()[:10]
    root = os.path.join(os.environ.get("TMPDIR", "/tmp"), "kafkaops-collections-%s" % tag)
    link = os.path.join(root, "ansible_collections", "kafkaops", "migration")
    if os.path.realpath(link) != REPO:
        os.makedirs(os.path.dirname(link), exist_ok=True)
        if os.path.lexists(link):
            os.unlink(link)
        try:
            os.symlink(REPO, link)
        except FileExistsError:  # another process made it meanwhile
            pass
    return root


if __name__ == "__main__":
    print(collections_root())
