from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    # ESP tracking webhooks (bounces, complaints), authenticated with WEBHOOK_SECRET.
    path("anymail/", include("anymail.urls")),
    path("", include("subscriptions.urls")),
    path("", include("papers.urls")),
]
