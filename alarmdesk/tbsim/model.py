"""The simulator's records and the exact JSON ThingsBoard gives for each (CE models)."""

import json
from dataclasses import dataclass

NULL_UUID = "13814000-1dd2-11b2-8080-808080808080"

SEVERITIES = ("CRITICAL", "MAJOR", "MINOR", "WARNING", "INDETERMINATE")
SYS_ADMIN, TENANT_ADMIN, CUSTOMER_USER = "SYS_ADMIN", "TENANT_ADMIN", "CUSTOMER_USER"


def entity_id(entity_type, uuid):
    return {"entityType": entity_type, "id": uuid}


def compact(value):
    """Jackson's JsonNode.toString(): compact JSON."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


@dataclass(slots=True)
class Customer:
    id: str
    tenant_id: str
    title: str
    created_time: int
    email: str = ""
    city: str = ""
    country: str = ""

    def to_json(self):
        return {
            "id": entity_id("CUSTOMER", self.id),
            "createdTime": self.created_time,
            "additionalInfo": {"description": ""},
            "country": self.country,
            "state": None,
            "city": self.city,
            "address": None,
            "address2": None,
            "zip": None,
            "phone": None,
            "email": self.email,
            "title": self.title,
            "tenantId": entity_id("TENANT", self.tenant_id),
            "version": 1,
            "name": self.title,
        }


@dataclass(slots=True)
class User:
    id: str
    tenant_id: str  # the null UUID for SYS_ADMIN
    customer_id: str  # the null UUID for tenant admins and SYS_ADMIN
    email: str
    password: str
    authority: str
    first_name: str | None
    last_name: str | None
    created_time: int
    enabled: bool = True

    @property
    def title(self):
        """User.getTitle(): first and last name, or the e-mail when both are empty."""
        name = f"{self.first_name or ''} {self.last_name or ''}".strip()
        return name or self.email

    def to_json(self):
        return {
            "id": entity_id("USER", self.id),
            "createdTime": self.created_time,
            "additionalInfo": {},
            "tenantId": entity_id("TENANT", self.tenant_id),
            "customerId": entity_id("CUSTOMER", self.customer_id),
            "email": self.email,
            "authority": self.authority,
            "firstName": self.first_name,
            "lastName": self.last_name,
            "phone": None,
            "version": 1,
            "name": self.email,
        }

    def email_info(self):
        return {
            "id": entity_id("USER", self.id),
            "email": self.email,
            "firstName": self.first_name,
            "lastName": self.last_name,
        }


@dataclass(slots=True)
class Device:
    """A device or an asset: the same ownership, names and JSON shape but for the profile."""

    entity_type: str  # DEVICE or ASSET
    id: str
    tenant_id: str
    customer_id: str  # the null UUID when unassigned
    name: str
    type: str  # the profile name
    label: str
    profile_id: str
    created_time: int

    def to_json(self):
        data = {
            "id": entity_id(self.entity_type, self.id),
            "createdTime": self.created_time,
            "additionalInfo": {"gateway": False, "description": ""},
            "tenantId": entity_id("TENANT", self.tenant_id),
            "customerId": entity_id("CUSTOMER", self.customer_id),
            "name": self.name,
            "type": self.type,
            "label": self.label,
        }
        if self.entity_type == "DEVICE":
            data["deviceProfileId"] = entity_id("DEVICE_PROFILE", self.profile_id)
            data["deviceData"] = {
                "configuration": {"type": "DEFAULT"},
                "transportConfiguration": {"type": "DEFAULT"},
            }
            data["firmwareId"] = None
            data["softwareId"] = None
        else:
            data["additionalInfo"] = {"description": ""}
            data["assetProfileId"] = entity_id("ASSET_PROFILE", self.profile_id)
        data["version"] = 1
        return data

    def info_json(self, customer, active):
        data = self.to_json()
        data["customerTitle"] = customer.title if customer else None
        data["customerIsPublic"] = False
        if self.entity_type == "DEVICE":
            data["deviceProfileName"] = self.type
            data["active"] = active
        else:
            data["assetProfileName"] = self.type
        return data


@dataclass(slots=True)
class Alarm:
    id: str
    tenant_id: str
    customer_id: str | None  # None, not the null UUID, when the originator had no owner
    type: str
    originator_type: str
    originator_id: str
    severity: str
    created_time: int
    start_ts: int
    end_ts: int
    acknowledged: bool = False
    cleared: bool = False
    ack_ts: int = 0
    clear_ts: int = 0
    assign_ts: int = 0
    assignee_id: str | None = None
    details: object = None
    propagate: bool = False
    propagate_to_owner: bool = False
    propagate_to_tenant: bool = False
    # A shared empty tuple until an update sets a list: a million alarms need no million lists.
    propagate_relation_types: tuple | list = ()

    @property
    def status(self):
        return ("CLEARED_" if self.cleared else "ACTIVE_") + (
            "ACK" if self.acknowledged else "UNACK"
        )

    def to_json(self):
        return {
            "id": entity_id("ALARM", self.id),
            "createdTime": self.created_time,
            "tenantId": entity_id("TENANT", self.tenant_id),
            "customerId": entity_id("CUSTOMER", self.customer_id) if self.customer_id else None,
            "type": self.type,
            "originator": entity_id(self.originator_type, self.originator_id),
            "severity": self.severity,
            "acknowledged": self.acknowledged,
            "cleared": self.cleared,
            "assigneeId": entity_id("USER", self.assignee_id) if self.assignee_id else None,
            "startTs": self.start_ts,
            "endTs": self.end_ts,
            "ackTs": self.ack_ts,
            "clearTs": self.clear_ts,
            "assignTs": self.assign_ts,
            "details": self.details,
            "propagate": self.propagate,
            "propagateToOwner": self.propagate_to_owner,
            "propagateToTenant": self.propagate_to_tenant,
            "propagateRelationTypes": list(self.propagate_relation_types),
            "name": self.type,
            "status": self.status,
        }

    def info_json(self, originator_name, originator_label, assignee):
        data = self.to_json()
        # Field order as AlarmInfo serialises it: the view's extra columns before name/status.
        name, status = data.pop("name"), data.pop("status")
        data["originatorName"] = originator_name
        data["originatorLabel"] = originator_label
        data["originatorDisplayName"] = originator_label or originator_name
        data["assignee"] = (
            {
                "id": entity_id("USER", assignee.id),
                "firstName": assignee.first_name,
                "lastName": assignee.last_name,
                "email": assignee.email,
            }
            if assignee
            else None
        )
        data["name"] = name
        data["status"] = status
        return data


@dataclass(slots=True)
class Comment:
    id: str
    alarm_id: str
    user_id: str | None
    type: str  # SYSTEM or OTHER
    comment: dict
    created_time: int

    def to_json(self):
        return {
            "id": {"id": self.id},
            "createdTime": self.created_time,
            "alarmId": entity_id("ALARM", self.alarm_id),
            "userId": entity_id("USER", self.user_id) if self.user_id else None,
            "type": self.type,
            "comment": self.comment,
            "name": compact(self.comment),
        }

    def info_json(self, user):
        data = self.to_json()
        data["firstName"] = user.first_name if user else None
        data["lastName"] = user.last_name if user else None
        data["email"] = user.email if user else None
        return data


@dataclass(slots=True, frozen=True)
class Relation:
    """EntityRelation: unique by its ends, type and type group (the relation table's key)."""

    from_: tuple  # (entity type, id)
    to: tuple
    type: str
    type_group: str
    version: int  # nextval('relation_version_seq') at the last save (JpaRelationDao)

    def to_json(self):
        return {
            "from": entity_id(*self.from_),
            "to": entity_id(*self.to),
            "type": self.type,
            "typeGroup": self.type_group,
            "version": self.version,
            "additionalInfo": None,
        }

    def info_json(self, from_name, to_name):
        """EntityRelationInfo: only the far end of the lookup is named, the other is null."""
        return {**self.to_json(), "fromName": from_name, "toName": to_name}
