# tests/test_decisions.py of a policy repository (docs/ci.md): one snapshot per recorded
# request, by the regate pytest plugin.  Record or accept changes with
# `pytest --snapshot-update`, and review the diff of tests/__snapshots__.


def test_decision(regate_decision, snapshot):
    assert regate_decision == snapshot
