from django.urls import path

from . import pool_views, views

app_name = "contacts"

urlpatterns = [
    path("", views.contact_list, name="contact_list"),
    path("new/", views.contact_create, name="contact_create"),
    path("bulk/reassign/", views.bulk_reassign, name="bulk_reassign"),
    path("pool/", pool_views.pool_list, name="pool"),
    path("pool/<int:pk>/claim/", pool_views.claim, name="claim"),
    path("pool/assign/", pool_views.assign, name="pool_assign"),
    path("<int:pk>/", views.contact_detail, name="contact_detail"),
    path("<int:pk>/edit/", views.contact_update, name="contact_update"),
    path("companies/", views.company_list, name="company_list"),
    path("companies/<int:pk>/", views.company_detail, name="company_detail"),
]
