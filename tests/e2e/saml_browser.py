"""A tiny browser for the SAML e2e tests: follows redirects (httpx) and submits HTML forms, as a user agent
does with the POST binding's auto-submitting form and broker's role picker."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin

import httpx


@dataclass
class Form:
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)
    radios: dict[str, list[str]] = field(default_factory=dict)


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(Form(a.get("action", ""), a.get("method", "get").lower()))
        elif tag == "input" and self.forms and a.get("name"):
            form = self.forms[-1]
            if a.get("type") == "radio":
                form.radios.setdefault(a["name"], []).append(a.get("value", ""))
                if "checked" in a:
                    form.fields[a["name"]] = a.get("value", "")
            else:
                form.fields[a["name"]] = a.get("value", "")


def forms(html: str) -> list[Form]:
    parser = _FormParser()
    parser.feed(html)
    return parser.forms


def submit(client: httpx.Client, page: httpx.Response, **overrides: str | None) -> httpx.Response:
    """Submit the page's first form with ``overrides`` (``None`` removes a field)."""
    found = forms(page.text)
    assert found, f"no form on the page: {page.text[:500]}"
    form = found[0]
    data = dict(form.fields)
    for k, v in overrides.items():
        if v is None:
            data.pop(k, None)
        else:
            data[k] = v
    action = urljoin(str(page.url), form.action)
    return client.post(action, data=data)
