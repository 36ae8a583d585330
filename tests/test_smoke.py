from issues.models import Issue


def test_world_builds_with_every_role(world):
    assert world.inspector_xincheng.membership.role == "inspector"
    assert world.handler_xincheng.membership.organisation == world.org_x
    assert Issue.objects.count() == 0
