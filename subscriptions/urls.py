from django.urls import path

from subscriptions import reader_views, views

app_name = "subscriptions"

urlpatterns = [
    path("subscribe/", views.subscribe_view, name="subscribe"),
    path("subscribe/check-inbox/", views.check_inbox, name="check_inbox"),
    path("preview/", views.preview_view, name="preview"),
    path("subscribe/resend/", views.resend_view, name="resend"),
    path("confirm/<str:token>/", views.confirm_view, name="confirm"),
    # Before the preferences link, whose token would otherwise match "new-link".
    path("preferences/new-link/", views.new_link_view, name="new_link"),
    path("preferences/new-link/sent/", views.new_link_sent, name="new_link_sent"),
    path("preferences/<str:token>/", views.preferences_view, name="preferences"),
    path("preferences/<str:token>/delete/", views.delete_view, name="delete"),
    path("preferences/<str:token>/my-data/", views.my_data_view, name="my_data"),
    path(
        "preferences/<str:token>/reading-list/",
        reader_views.reading_list_view,
        name="reading_list",
    ),
    path(
        "preferences/<str:token>/reading-list.<str:kind>",
        reader_views.reading_list_export,
        name="reading_list_export",
    ),
    path("unsubscribe/<str:token>/", views.unsubscribe_view, name="unsubscribe"),
    path("feedback/<str:token>/", views.feedback_view, name="feedback"),
    path("save/<str:token>/", reader_views.save_view, name="save"),
    path("r/<str:token>/", reader_views.click_view, name="click"),
    path("digest/view/<str:token>/<int:digest_id>/", views.view_digest, name="view_digest"),
    path("test-email-link/", views.test_link, name="test_link"),
    path(
        "unsubscribe/<str:token>/one-click/",
        views.one_click_unsubscribe,
        name="one_click_unsubscribe",
    ),
]
