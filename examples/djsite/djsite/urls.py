"""URL configuration for the djsite example project."""
from django.urls import include, path

urlpatterns = [
    path("", include("demo.urls")),
]
