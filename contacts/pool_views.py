"""The public pool page: reps claim, managers assign."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.handover import members_managed_by

from . import pool
from .models import PoolPolicy


@login_required
def pool_list(request):
    policy = PoolPolicy.current()
    page = Paginator(pool.pool_for(request.user), 50).get_page(request.GET.get("page"))
    can_assign = request.user.is_manager or request.user.is_admin
    context = {
        "page": page,
        "policy": policy,
        "claims_left": max(0, policy.claims_per_day - pool.claims_today(request.user)),
        "assign_targets": (
            members_managed_by(request.user).filter(is_active=True).order_by("username")
            if can_assign
            else None
        ),
    }
    return render(request, "contacts/pool.html", context)


@login_required
@require_POST
def claim(request, pk):
    try:
        contact = pool.claim_from_pool(
            user=request.user, contact_id=pk, ip_address=request.META.get("REMOTE_ADDR")
        )
    except pool.PoolError as error:
        messages.error(request, error.messages[0])
        return redirect("contacts:pool")
    messages.success(request, _("You now own %(name)s.") % {"name": contact.name or contact.email})
    return redirect(contact)


@login_required
@require_POST
def assign(request):
    if not (request.user.is_manager or request.user.is_admin):
        return redirect("contacts:pool")
    target = (
        members_managed_by(request.user)
        .filter(pk=request.POST.get("target") if request.POST.get("target", "").isdigit() else None)
        .first()
    )
    ids = [int(v) for v in request.POST.getlist("selected") if v.isdigit()]
    if target is None or not ids:
        messages.error(request, _("Choose customers from the pool and a member of your team."))
        return redirect("contacts:pool")
    try:
        count = pool.assign_from_pool(
            actor=request.user,
            contact_ids=ids,
            target=target,
            ip_address=request.META.get("REMOTE_ADDR"),
        )
    except (pool.PoolError, PermissionDenied) as error:
        messages.error(request, getattr(error, "messages", [str(error)])[0])
        return redirect("contacts:pool")
    messages.success(
        request,
        _("%(count)s customers assigned to %(name)s.")
        % {"count": count, "name": target.display_name},
    )
    return redirect("contacts:pool")
