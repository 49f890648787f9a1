"""Where a device or an asset sits: ThingsBoard's "Contains" relations, read with the user's
own token (one relation query each way: it walks every level itself)."""

from django.core.cache import cache

from alarmdesk.accounts.tokens import tb_calls
from alarmdesk.thingsboard.errors import NotFound, PermissionDenied, ThingsBoardError

# What an asset contains, per user, for the list's asset filter: its live refresh asks
# every few seconds, and a hierarchy changes far more rarely.
CONTAINED_SECONDS = 60


def paths_up(relations, entity_id):
    """From the relations walked TO an entity, each chain of its containers, nearest first:
    [[(type, id, name), ...], ...]. ThingsBoard's walk visits an entity once, so there is
    no cycle to follow."""
    up = {}
    for relation in relations:
        up.setdefault(relation.to_id, []).append(
            (relation.from_type, relation.from_id, relation.from_name or "")
        )
    paths = []

    def walk(node, path):
        parents = [p for p in up.get(node, ()) if p[1] not in {step[1] for step in path}]
        if not parents:
            if path:
                paths.append(path)
            return
        for parent in parents:
            walk(parent[1], [*path, parent])

    walk(str(entity_id), [])
    return paths


class NotYours(LookupError):
    """ThingsBoard does not let the user read that asset (or does not know it)."""


def contained(request, user, asset_id):
    """The asset's name and the ids of the asset and of everything it contains, however
    deep, as ThingsBoard shows them to the user (both asked at once, kept briefly per user).
    Raises NotYours, or ThingsBoardError when ThingsBoard does not answer."""
    key = f"alarmdesk:contained:{user.id}:{asset_id}"
    found = cache.get(key)
    if found is None:
        got = tb_calls(
            request,
            {
                "info": lambda tb: tb.entity_info("ASSET", asset_id),
                "related": lambda tb: tb.related("ASSET", asset_id, "FROM"),
            },
        )
        for answer in got.values():
            if isinstance(answer, PermissionDenied | NotFound):
                raise NotYours(str(asset_id))
            if isinstance(answer, ThingsBoardError):
                raise answer
        ids = sorted({str(asset_id), *(r.to_id for r in got["related"])})
        found = {"name": got["info"].entity.name, "ids": ids}
        cache.set(key, found, CONTAINED_SECONDS)
    return found["name"], found["ids"]
