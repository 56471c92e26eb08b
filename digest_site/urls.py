from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from .health import healthz
from .webhooks import APP_NAME, tracking_webhook_urls

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    # Our ESP's tracking webhook (bounces, complaints), authenticated with WEBHOOK_SECRET:
    # /anymail/<WEBHOOK_ESP>/tracking/, and no other ESP's.
    path("anymail/", include((tracking_webhook_urls(settings.WEBHOOK_ESP), APP_NAME))),
    path("", include("subscriptions.urls")),
    path("", include("papers.urls")),
]
