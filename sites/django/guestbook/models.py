from django.db import models


class Entry(models.Model):
    """One message in the guestbook, written through the admin."""

    name = models.CharField(max_length=80)
    message = models.TextField()
    published = models.BooleanField(default=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created", "-id"]
        verbose_name_plural = "entries"

    def __str__(self):
        return f"{self.name}: {self.message[:40]}"
