from django.urls import path

from . import compose, views

app_name = "mailbox"

urlpatterns = [
    path("unmatched/", views.unmatched_list, name="unmatched_list"),
    path("unmatched/<int:pk>/", views.unmatched_detail, name="unmatched_detail"),
    path("unmatched/<int:pk>/attach/", views.attach, name="attach"),
    path("unmatched/<int:pk>/create-contact/", views.create_contact, name="create_contact"),
    path("unmatched/<int:pk>/dismiss/", views.dismiss, name="dismiss"),
    path("contacts/<int:contact_pk>/send/", compose.send_one_off, name="send_one_off"),
]
