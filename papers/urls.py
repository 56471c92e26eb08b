from django.urls import path

from . import feeds, views

app_name = "papers"

urlpatterns = [
    path("", views.paper_list, name="list"),
    path("papers/<int:pk>/", views.paper_detail, name="detail"),
    path("digest/", views.digest_index, name="digest_index"),
    path("digest/<str:day>/", views.day_archive, name="day_archive"),
    path("topics/<slug:slug>/rss/", feeds.TopicFeed(), name="topic_rss"),
    path("topics/<slug:slug>/atom/", feeds.TopicAtomFeed(), name="topic_atom"),
]
