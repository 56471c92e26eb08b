from django.contrib import admin
from django.urls import include, path

from .health import healthz

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    # ESP tracking webhooks (bounces, complaints), authenticated with WEBHOOK_SECRET.
    path("anymail/", include("anymail.urls")),
    path("", include("subscriptions.urls")),
    path("", include("papers.urls")),
]
