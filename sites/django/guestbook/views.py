import django
from django.shortcuts import render

from .models import Entry


def index(request):
    """The public page: published entries, newest first."""
    entries = Entry.objects.filter(published=True)[:50]
    context = {"entries": entries, "django_version": django.get_version()}
    return render(request, "guestbook/index.html", context)
