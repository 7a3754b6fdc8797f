from django.urls import path

from . import views

urlpatterns = [
    path("", views.index, name="index"),
    path("api/json", views.api_json, name="api-json"),
    path("api/echo", views.api_echo, name="api-echo"),
    path("page", views.page, name="page"),
    path("form", views.contact, name="form"),
    path("upload", views.upload, name="upload"),
    path("stream", views.stream, name="stream"),
    path("error", views.error, name="error"),
]
