from django.urls import path

from . import views

app_name = "followups"

urlpatterns = [
    path("contacts/<int:contact_pk>/timeline/", views.timeline, name="timeline"),
    path("contacts/<int:contact_pk>/log/", views.quick_log, name="quick_log"),
    path("contacts/<int:contact_pk>/plan/", views.plan, name="plan"),
    path("follow-ups/<int:pk>/complete/", views.complete, name="complete"),
    path("follow-ups/<int:pk>/cancel/", views.cancel, name="cancel"),
    path("follow-ups/<int:pk>/snooze/", views.snooze, name="snooze"),
    path("follow-ups/<int:pk>/reschedule/", views.reschedule, name="reschedule"),
    path("my-day/", views.my_day, name="my_day"),
    path("my-day/team/", views.team_day, name="team_day"),
    path("notifications/", views.notifications, name="notifications"),
    path("notifications/count/", views.notification_count, name="notification_count"),
    path("notifications/<int:pk>/read/", views.mark_read, name="mark_read"),
    path("notifications/read-all/", views.mark_all_read, name="mark_all_read"),
    path("calendar/", views.calendar_settings, name="calendar_settings"),
    path("calendar/reset/", views.calendar_reset, name="calendar_reset"),
    path("calendar/<str:token>.ics", views.calendar_feed, name="calendar_feed"),
]
