from django import forms

from interface.models import Preference


class PreferenceForm(forms.Form):
    """Preference changes: only the fields sent are changed."""

    theme = forms.ChoiceField(
        choices=Preference.Theme.choices,
        required=False,
        error_messages={
            "invalid_choice": "%(value)s is not a theme: choose system, light or dark."
        },
    )
    sidebar = forms.ChoiceField(
        choices=[("collapsed", "collapsed"), ("expanded", "expanded")],
        required=False,
        error_messages={
            "invalid_choice": "%(value)s is not a sidebar state: choose collapsed "
            "or expanded."
        },
    )
