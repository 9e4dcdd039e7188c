from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.utils.translation import gettext_lazy as _

from accounts import views as account_views

from . import views

admin.site.site_header = _("Trade CRM")
admin.site.site_title = _("Trade CRM")

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("language/", account_views.switch_language, name="switch_language"),
    path("profile/", account_views.profile, name="profile"),
    path("team/handover/", account_views.handover_view, name="handover"),
    path("team/handovers/<int:pk>/", account_views.handover_detail, name="handover_detail"),
    path("contacts/", include("contacts.urls")),
    path("mailbox/", include("mailbox.urls")),
    path("", include("followups.urls")),
    path("admin/", admin.site.urls),
]
