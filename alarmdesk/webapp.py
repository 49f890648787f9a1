"""AlarmDesk as an installable web app: its manifest and its service worker.

Both are public (a browser fetches the manifest without the session's cookie) and say
nothing about any alarm. The service worker is served from the site's root, not from
/static/, so that its scope is the whole site; it is a template for the hashed URLs of the
icons, and is never cached long, so that a new version reaches every browser."""

from django.http import JsonResponse
from django.shortcuts import render
from django.templatetags.static import static
from django.urls import reverse
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET

# A dark slate: the app's bar and its splash screen; base.html's theme-color and the icons'
# background (scripts/icons.py) are the same colour.
THEME = "#1f2937"
ICONS = (("icons/alarmdesk-192.png", 192), ("icons/alarmdesk-512.png", 512))


@require_GET
@cache_control(max_age=3600)
def manifest(request):
    icons = [
        {"src": static(path), "sizes": f"{size}x{size}", "type": "image/png", "purpose": purpose}
        for path, size in ICONS
        # The triangle keeps inside the central 80 %: one picture for both (scripts/icons.py).
        for purpose in ("any", "maskable")
    ]
    data = {
        "name": "AlarmDesk",
        "short_name": "AlarmDesk",
        "description": "Triage ThingsBoard alarms; on call from a phone.",
        "id": "/",
        "start_url": reverse("oncall"),
        "scope": "/",
        "display": "standalone",
        "background_color": THEME,
        "theme_color": THEME,
        "icons": icons,
    }
    return JsonResponse(data, content_type="application/manifest+json")


@require_GET
@cache_control(no_cache=True)
def service_worker(request):
    return render(request, "webapp/sw.js", content_type="text/javascript; charset=utf-8")
