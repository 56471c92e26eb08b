from django.urls import path

from . import views

app_name = "papers"

urlpatterns = [
    path("", views.paper_list, name="list"),
    path("papers/<int:pk>/", views.paper_detail, name="detail"),
]
