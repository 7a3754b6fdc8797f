import hashlib
import json

from django.http import JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from .forms import ContactForm, UploadForm

MAX_STREAM_CHUNKS = 100_000


@require_GET
def index(request):
    return render(request, "demo/index.html")


@require_GET
def api_json(request):
    return JsonResponse(
        {
            "message": "hello",
            "items": [{"id": i, "name": f"item {i}"} for i in range(1, 6)],
            "success": True,
        }
    )


@csrf_exempt  # a JSON API called by scripts, not by a browser form
@require_POST
def api_echo(request):
    """Return the posted data: a JSON body, or urlencoded/multipart form fields."""
    if request.content_type == "application/json":
        try:
            data = json.loads(request.body)
        except ValueError as exc:
            return JsonResponse({"success": False, "error": f"invalid JSON: {exc}"}, status=400)
    else:
        data = {key: values if len(values) > 1 else values[0] for key, values in request.POST.lists()}
    return JsonResponse({"success": True, "content_type": request.content_type, "data": data})


@require_GET
def page(request):
    items = [{"number": i, "square": i * i} for i in range(1, 21)]
    return render(request, "demo/page.html", {"items": items})


@require_http_methods(["GET", "POST"])
def contact(request):
    if request.method == "POST":
        form = ContactForm(request.POST)
        if form.is_valid():
            return redirect("/form?ok=1")
        return render(request, "demo/form.html", {"form": form}, status=400)
    return render(
        request, "demo/form.html", {"form": ContactForm(), "ok": request.GET.get("ok") == "1"}
    )


@csrf_exempt  # a JSON API called by scripts, not by a browser form
@require_POST
def upload(request):
    """Read the whole uploaded file and describe it; nothing is stored."""
    form = UploadForm(request.POST, request.FILES)
    if not form.is_valid():
        return JsonResponse({"success": False, "errors": form.errors}, status=400)
    uploaded = form.cleaned_data["file"]
    digest = hashlib.sha256()
    size = 0
    for chunk in uploaded.chunks():
        digest.update(chunk)
        size += len(chunk)
    return JsonResponse(
        {
            "success": True,
            "name": uploaded.name,
            "size": size,
            "sha256": digest.hexdigest(),
            "content_type": uploaded.content_type,
        }
    )


@require_GET
def stream(request):
    try:
        n = int(request.GET.get("n", 10))
    except ValueError:
        n = -1
    if not 0 <= n <= MAX_STREAM_CHUNKS:
        return JsonResponse(
            {"success": False, "error": f"n must be an integer in 0..{MAX_STREAM_CHUNKS}"},
            status=400,
        )
    chunks = (f"chunk {i}\n" for i in range(n))
    return StreamingHttpResponse(chunks, content_type="text/plain; charset=utf-8")


def error(request):
    raise RuntimeError("djsite example: /error always fails")
