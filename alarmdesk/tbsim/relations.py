"""Entity relations and ThingsBoard's relation query (BaseRelationService.findByQuery)."""

from collections import deque

from .model import Relation

FROM, TO = "FROM", "TO"
CONTAINS = "Contains"  # EntityRelation.CONTAINS_TYPE


class Relations:
    """Relations indexed by either end, in the order they were saved.

    The relation table has no ORDER BY on these lookups (RelationRepository's derived
    queries), so ThingsBoard's order is the database's; the simulator keeps save order.
    """

    def __init__(self):
        self._by_key = {}
        self._from = {}  # (entity type, id) -> relations from it
        self._to = {}
        self._version = 0

    def save(self, from_, to, relation_type, type_group="COMMON"):
        """Create or update: the key is (from, to, type, type group); each save takes the
        next version (JpaRelationDao: nextval('relation_version_seq'))."""
        self._version += 1
        relation = Relation(tuple(from_), tuple(to), relation_type, type_group, self._version)
        old = self._by_key.pop(self._key(relation), None)
        if old is not None:
            self._from[old.from_].remove(old)
            self._to[old.to].remove(old)
        self._by_key[self._key(relation)] = relation
        self._from.setdefault(relation.from_, []).append(relation)
        self._to.setdefault(relation.to, []).append(relation)
        return relation

    @staticmethod
    def _key(relation):
        return relation.from_, relation.to, relation.type, relation.type_group

    def get(self, from_, to, relation_type, type_group):
        return self._by_key.get((from_, to, relation_type, type_group))

    def by_from(self, entity, type_group, relation_type=None):
        return self._select(self._from.get(entity, ()), type_group, relation_type)

    def by_to(self, entity, type_group, relation_type=None):
        return self._select(self._to.get(entity, ()), type_group, relation_type)

    @staticmethod
    def _select(relations, type_group, relation_type):
        return [
            r for r in relations if r.type_group == type_group and relation_type in (None, r.type)
        ]

    def query(self, root, direction, type_group, max_level, last_level_only):
        """findRelationsRecursively's breadth-first walk (processQueue), read from
        BaseRelationService: the walk follows every relation of the group whatever its type
        (filters apply afterwards), visits each entity once, and stops at `max_level`
        (0 or less: no limit). With `last_level_only` it keeps the relations found at
        `max_level` and those leading to an entity that has no relations further on (a
        leaf at any shallower level); otherwise every relation it walked."""
        max_level = max_level if max_level > 0 else float("inf")
        found = {}  # an insertion-ordered set (ThingsBoard's is a hash set: no order)
        seen = set()
        tasks = deque([(1, root, [])])
        while tasks:
            level, node, leading_here = tasks.popleft()
            step = self.by_from if direction == FROM else self.by_to
            relations = step(node, type_group)
            children = {}
            for relation in relations:
                child = relation.to if direction == FROM else relation.from_
                if child not in seen:
                    seen.add(child)
                    children[child] = []
                if child in children:
                    children[child].append(relation)
            if not last_level_only:
                found.update(dict.fromkeys(relations))
            elif not relations:
                found.update(dict.fromkeys(leading_here))
            elif level == max_level:
                found.update(dict.fromkeys(relations))
            if level + 1 <= max_level:
                tasks.extend((level + 1, child, rels) for child, rels in children.items())
        return list(found)


def matches(filters, relation, direction):
    """matchFilters: any filter whose relation type (empty: any) and entity types (empty:
    any) fit the far end. RelationEntityTypeFilter.negate is not read here."""
    if not filters:
        return True
    far_type = (relation.to if direction == FROM else relation.from_)[0]
    return any(
        (not f.get("relationType") or f["relationType"] == relation.type)
        and (not f.get("entityTypes") or far_type in f["entityTypes"])
        for f in filters
    )
