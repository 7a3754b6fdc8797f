"""WSGI config for the djsite example project.

It exposes the WSGI callable as a module-level variable named ``application``::

    ferrocorn --chdir examples/djsite djsite.wsgi:application
"""
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djsite.settings")

application = get_wsgi_application()
