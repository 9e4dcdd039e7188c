from django.urls import path

from . import cleaning_views, export_views, imports_views, pool_views, views

app_name = "contacts"

urlpatterns = [
    path("", views.contact_list, name="contact_list"),
    path("new/", views.contact_create, name="contact_create"),
    path("bulk/reassign/", views.bulk_reassign, name="bulk_reassign"),
    path("export/", views.export_contacts_view, name="export"),
    path("exports/", export_views.export_job_list, name="export_jobs"),
    path("exports/<int:pk>/", export_views.export_job, name="export_job"),
    path("exports/<int:pk>/progress/", export_views.export_job_progress, name="export_progress"),
    path("exports/<int:pk>/download/", export_views.export_job_download, name="export_download"),
    path("pool/", pool_views.pool_list, name="pool"),
    path("pool/<int:pk>/claim/", pool_views.claim, name="claim"),
    path("pool/assign/", pool_views.assign, name="pool_assign"),
    path("cleaning/", cleaning_views.worklist, name="cleaning"),
    path("cleaning/merge/", cleaning_views.merge, name="cleaning_merge"),
    path("cleaning/<int:pk>/fix-email/", cleaning_views.fix_email, name="cleaning_fix_email"),
    path("cleaning/<int:pk>/dormant/", cleaning_views.move_to_dormant, name="cleaning_dormant"),
    path("<int:pk>/", views.contact_detail, name="contact_detail"),
    path("<int:pk>/edit/", views.contact_update, name="contact_update"),
    path("companies/", views.company_list, name="company_list"),
    path("companies/<int:pk>/", views.company_detail, name="company_detail"),
    path("imports/", imports_views.import_upload, name="import_upload"),
    path("imports/<int:pk>/", imports_views.import_preview, name="import_preview"),
    path("imports/<int:pk>/confirm/", imports_views.import_confirm, name="import_confirm"),
    path("imports/<int:pk>/discard/", imports_views.import_discard, name="import_discard"),
    path("imports/<int:pk>/progress/", imports_views.import_progress, name="import_progress"),
    path("imports/<int:pk>/result/", imports_views.import_result, name="import_result"),
    path("imports/<int:pk>/report.xlsx", imports_views.import_report, name="import_report"),
    path("imports/<int:pk>/undo/", imports_views.import_undo, name="import_undo"),
    path("imports/<int:pk>/run-again/", imports_views.import_run_again, name="import_run_again"),
]
