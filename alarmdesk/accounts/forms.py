from django import forms


class LoginForm(forms.Form):
    username = forms.CharField(
        label="Email",
        max_length=255,
        widget=forms.EmailInput(attrs={"autocomplete": "username", "autofocus": True}),
    )
    password = forms.CharField(
        max_length=255,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
