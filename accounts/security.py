"""Account security: the login lockout page, and the audit entries and session ends that follow
failed logins, role changes and deactivations wherever they happen (admin, CLI, services)."""

from axes.helpers import get_cool_off
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_login_failed
from django.db.models.signals import post_save, pre_save
from django.dispatch import receiver
from django.shortcuts import render

from .handover import end_sessions
from .services import record_audit

WATCHED_FIELDS = {"role", "is_active"}


def client_ip(request):
    """The address audit entries and the login lockout record (the proxy sets REMOTE_ADDR)."""
    return request.META.get("REMOTE_ADDR") or None


def lockout_response(request, original_response=None, credentials=None):
    """django-axes calls this instead of the login page while a username+IP pair is locked.

    The same page whether or not the username exists, so it tells an attacker nothing.
    """
    minutes = max(1, int(get_cool_off(request).total_seconds() // 60))
    return render(request, "registration/locked_out.html", {"minutes": minutes}, status=429)


@receiver(user_login_failed, dispatch_uid="accounts.audit_failed_login")
def audit_failed_login(sender, credentials, request=None, **kwargs):
    """One entry per failed login: the user's id when the username exists, never the username."""
    User = get_user_model()
    username = credentials.get("username")
    ids = []
    if isinstance(username, str) and username and "\x00" not in username:
        ids = list(User._default_manager.filter(username=username).values_list("pk", flat=True))
    record_audit(
        actor=None,
        action="login_failed",
        object_type="user",
        ids=ids,
        detail={"locked_out": bool(getattr(request, "axes_locked_out", False))},
        ip_address=client_ip(request) if request is not None else None,
    )


@receiver(pre_save, sender="accounts.User", dispatch_uid="accounts.remember_user_state")
def remember_user_state(sender, instance, raw=False, update_fields=None, **kwargs):
    """Read the stored role and active flag before a save that may change them."""
    instance._saved_state = None
    fields = WATCHED_FIELDS if update_fields is None else WATCHED_FIELDS & set(update_fields)
    if raw or instance.pk is None or not fields:
        return  # e.g. last_login at every login: nothing to compare
    instance._saved_state = sender._default_manager.filter(pk=instance.pk).values(*fields).first()


@receiver(post_save, sender="accounts.User", dispatch_uid="accounts.after_user_saved")
def after_user_saved(sender, instance, created, raw=False, **kwargs):
    """A role change is audited (with the actor the admin attaches); deactivation logs out."""
    before = instance.__dict__.pop("_saved_state", None)
    actor = instance.__dict__.pop("_audit_actor", None)
    ip_address = instance.__dict__.pop("_audit_ip", None)
    if raw or created or not before:
        return
    if "role" in before and before["role"] != instance.role:
        record_audit(
            actor=actor,
            action="role_change",
            object_type="user",
            ids=[instance.pk],
            detail={"from": before["role"], "to": instance.role},
            ip_address=ip_address,
        )
    if before.get("is_active") and not instance.is_active:
        end_sessions(instance)
