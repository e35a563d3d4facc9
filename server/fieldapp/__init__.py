"""The field app (PWA) shell, its service worker and its web app manifest."""
