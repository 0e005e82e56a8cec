from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from interface.forms import PreferenceForm
from interface.models import Preference


@require_POST
def update_preferences(request: HttpRequest) -> HttpResponse:
    """Store the theme and sidebar state sent.

    Returns 204 to htmx and a redirect back to the sending page to a plain form.
    """
    form = PreferenceForm(request.POST)
    if not form.is_valid():
        errors = " ".join(
            message for field in form.errors.values() for message in field
        )
        return HttpResponseBadRequest(errors, content_type="text/plain")

    # get_or_create, unlike a plain save, survives two first saves at once.
    preference, _ = Preference.objects.get_or_create(user=request.user)
    if form.cleaned_data["theme"]:
        preference.theme = form.cleaned_data["theme"]
    if form.cleaned_data["sidebar"]:
        preference.sidebar_collapsed = form.cleaned_data["sidebar"] == "collapsed"
    preference.save()

    if request.htmx:
        return HttpResponse(status=204)
    next_url = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        next_url = "sessions:dashboard"
    return redirect(next_url)
