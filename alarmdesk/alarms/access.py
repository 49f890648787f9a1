"""The one access rule: which alarms of the store a signed-in user may see and act on.

Exactly ThingsBoard's (thingsboard-api.md 4.3, 9.2): a tenant administrator sees the
tenant's alarms; a customer user sees the alarms whose stored customerId is their customer
(fixed when the alarm was raised, so an alarm raised before a device was assigned to the
customer stays invisible to them); a system administrator sees none. Every list, count,
detail, action, bulk job and live refresh goes through here.
"""

from django.http import Http404

from .models import FALSE, Alarm


def visible_alarms(user, *, include_deleted=False):
    """The store's alarms `user` (a SessionUser) may see, as a queryset."""
    scope = visible_scope(user)
    if scope is None:
        return Alarm.objects.none()
    return scope_alarms(*scope, include_deleted=include_deleted)


def visible_scope(user):
    """(tenant id, customer id or None for the whole tenant) of what `user` may see, or
    None: nothing. The rule itself, for what keeps the alarms' figures by scope too (the
    history's daily counts)."""
    if user is None:
        return None
    if user.is_tenant_admin:
        return (user.tenant_id, None)
    if user.is_customer_user and user.customer_id:
        return (user.tenant_id, user.customer_id)
    return None


def scope_alarms(tenant_id, customer_id=None, *, include_deleted=False):
    """The alarms of one scope (`scope_of`): the tenant's, or one customer's of the tenant;
    what the scope's users see, and what the sync counts for them (alarms/counts.py)."""
    alarms = Alarm.objects.all() if include_deleted else Alarm.objects.filter(deleted=FALSE)
    alarms = alarms.filter(tenant_id=tenant_id)
    return alarms if customer_id is None else alarms.filter(customer_id=customer_id)


def may_see(user, tenant_id, customer_id):
    """The same rule for an alarm read from ThingsBoard rather than the store."""
    if user is None or str(tenant_id) != str(user.tenant_id):
        return False
    if user.is_tenant_admin:
        return True
    return (
        user.is_customer_user
        and customer_id is not None
        and (str(customer_id) == str(user.customer_id))
    )


def get_alarm_for(user, alarm_id, *, include_deleted=True):
    """The stored alarm, or 404: a stranger cannot tell another customer's alarm from none."""
    alarm = visible_alarms(user, include_deleted=include_deleted).filter(id=alarm_id).first()
    if alarm is None:
        raise Http404("No such alarm")
    return alarm


def scope_of(user):
    """The change counter a user's pages watch: their customer's, or the whole tenant's."""
    if user.is_customer_user:
        return ("customer", user.customer_id)
    return ("tenant", user.tenant_id)


def unavailable_actions(alarm, user=None):
    """Why each action cannot be used on this alarm now (absent: it can). `assign_me` is
    assigning to `user`, known only when the user is given."""
    reasons = {}
    if alarm.acknowledged:
        reasons["ack"] = "Already acknowledged"
    if alarm.cleared:
        reasons["clear"] = "Already cleared"
    if alarm.assignee_id is None:
        reasons["unassign"] = "Nobody is assigned"
    elif user is not None and str(alarm.assignee_id) == str(user.id):
        reasons["assign_me"] = "Already assigned to you"
    if alarm.deleted:
        gone = "This alarm no longer exists in ThingsBoard"
        actions = ("ack", "clear", "assign", "assign_me", "unassign", "comment", "delete")
        reasons = dict.fromkeys(actions, gone)
    return reasons
